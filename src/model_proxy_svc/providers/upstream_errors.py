"""What every provider's failures share: the metadata and wording of an upstream error, and
the failures of an httpx exchange below HTTP status (connect, timeout, broken stream), which
the OpenAI-compatible, Azure and Anthropic adapters all meet.

Each message names the model, its identifier and endpoint; never the API key.
"""

from __future__ import annotations

import httpx

from aigw_common.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from model_proxy_svc.providers.base import Upstream
from model_proxy_svc.retries import RetryableUpstreamError

_MAX_DETAIL = 300


def metadata_of(upstream: Upstream, **extra: str) -> dict[str, str]:
    """The error's metadata: which model, identifier and endpoint (never the key), and `extra`."""
    return {
        "model": upstream.model_name,
        "identifier": upstream.identifier,
        "endpoint": upstream.display_endpoint,
        **extra,
    }


def clean(detail: str, upstream: Upstream) -> str:
    """What a server said, fit for a message: the key redacted, on one line, not too long."""
    if upstream.api_key:
        detail = detail.replace(upstream.api_key, "[redacted]")
    detail = " ".join(detail.split())
    return detail if len(detail) <= _MAX_DETAIL else detail[:_MAX_DETAIL] + "..."


def protocol_error(
    upstream: Upstream, what: str, *, protocol: str = "OpenAI-compatible"
) -> UpstreamUnavailable:
    """The server answered something that is not the `protocol` it should speak."""
    return UpstreamUnavailable(
        f"{upstream.describe()}: the server's answer is not {protocol}: {what}",
        metadata=metadata_of(upstream),
    )


def transport_error(error: httpx.HTTPError, upstream: Upstream) -> UpstreamError:
    """The domain error for a failure below HTTP status: connect, timeout, broken stream."""
    subject = upstream.describe()
    metadata = metadata_of(upstream)
    reason = clean(str(error) or type(error).__name__, upstream)
    if isinstance(error, httpx.ConnectTimeout):
        return RetryableUpstreamError(
            f"{subject}: cannot connect to the server (connect timed out); check the endpoint "
            "and that the server is running",
            metadata=metadata,
        )
    if isinstance(error, httpx.ConnectError):
        return RetryableUpstreamError(
            f"{subject}: cannot connect to the server ({reason}); check the endpoint and that "
            "the server is running",
            metadata=metadata,
        )
    if isinstance(error, httpx.ReadError | httpx.WriteError | httpx.RemoteProtocolError):
        # Typically a kept-alive connection the server closed as we reused it. Retried like a
        # failed connect (the OpenAI SDK does the same), and only ever before the first token.
        return RetryableUpstreamError(
            f"{subject}: the connection to the server failed ({reason})", metadata=metadata
        )
    if isinstance(error, httpx.PoolTimeout):
        return UpstreamUnavailable(
            f"{subject}: every connection to the server is busy; raise "
            "AIGW_MODEL_PROXY__MAX_CONNECTIONS_PER_ENDPOINT or lower the load",
            metadata=metadata,
        )
    if isinstance(error, httpx.TimeoutException):
        return UpstreamTimeout(
            f"{subject}: the server stopped answering for {upstream.timeout_s:g} s",
            metadata=metadata,
        )
    return UpstreamUnavailable(
        f"{subject}: the connection to the server failed ({reason})", metadata=metadata
    )
