"""Long-lived gRPC channels to other aigw services: one per upstream, opened at start-up."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import grpc

from aigw_common.interceptors import outgoing_context_interceptors
from aigw_common.tls import channel_credentials

if TYPE_CHECKING:
    from aigw_common.settings import TlsSettings


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
        # Find dead peers on idle channels (the config watch can be quiet for hours).
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.max_receive_message_length", 8 * 1024 * 1024),
        # A replica that was down (or not started yet) is tried again within 5 s, not after
        # gRPC's default backoff of up to two minutes.
        ("grpc.initial_reconnect_backoff_ms", 500),
        ("grpc.max_reconnect_backoff_ms", 5_000),
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
