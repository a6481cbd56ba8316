"""Long-lived gRPC channels to other aigw services: one per upstream, opened at start-up."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import grpc

from aigw_common.interceptors import outgoing_context_interceptors
from aigw_common.settings import DEFAULT_MAX_MESSAGE_BYTES
from aigw_common.tls import channel_credentials

if TYPE_CHECKING:
    from aigw_common.settings import TlsSettings

KEEPALIVE_TIME_MS = 5_000
KEEPALIVE_TIMEOUT_MS = 5_000


def open_channel(
    target: str,
    *,
    retry_methods: list[dict[str, str]] | None = None,
    tls: TlsSettings | None = None,
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
) -> grpc.aio.Channel:
    """A channel to `target` that forwards the request context.

    `retry_methods` ({"service": ..., "method": ...} entries) lists idempotent RPCs that gRPC
    may retry on UNAVAILABLE before any response arrived; nothing else is retried. With `tls`
    enabled the channel uses TLS; `interceptors` (e.g. a service token) run after the shared
    ones.
    """
    options: list[tuple[str, str | int]] = [
        # Find a dead or frozen peer (SIGSTOP, a lost host) within seconds, on a busy channel
        # as on an idle one (the config watch can be quiet for hours): a ping every
        # KEEPALIVE_TIME_MS, unanswered for KEEPALIVE_TIMEOUT_MS, fails the calls on it.
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        # The timeout that actually bounds an unanswered ping in gRPC >= 1.5x (the keepalive
        # one alone left a frozen peer's calls waiting for their deadline).
        ("grpc.http2.ping_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        # gRPC stops pinging after two pings without data unless told otherwise; a stream
        # waiting on a slow model sends no data for long.
        ("grpc.http2.max_pings_without_data", 0),
        # A restarted peer (or a replica that was down) is reached again within a second of
        # listening: gRPC's default backoff grows to two minutes, and a connect attempt to a
        # frozen listener may take 20 s.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1_000),
        ("grpc.min_reconnect_backoff_ms", 2_000),
        ("grpc.max_receive_message_length", DEFAULT_MAX_MESSAGE_BYTES),
    ]
    # Every address the target resolves to gets calls in turn (pick_first, the default, would
    # send everything to one replica).
    service_config: dict[str, object] = {"loadBalancingConfig": [{"round_robin": {}}]}
    if retry_methods:
        service_config |= {
            "methodConfig": [
                {
                    "name": retry_methods,
                    "retryPolicy": {
                        "maxAttempts": 3,
                        "initialBackoff": "0.1s",
                        "maxBackoff": "1s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ]
        }
    options.append(("grpc.service_config", json.dumps(service_config)))
    all_interceptors = [*outgoing_context_interceptors(), *interceptors]
    credentials = channel_credentials(tls)
    if credentials is not None:
        return grpc.aio.secure_channel(
            target, credentials, options=options, interceptors=all_interceptors
        )
    return grpc.aio.insecure_channel(target, options=options, interceptors=all_interceptors)
