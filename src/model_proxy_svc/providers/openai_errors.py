"""Upstream failures of OpenAI-style servers as domain errors a person can act on.

Each message names the model, its identifier and endpoint, and what the server said (see
upstream_errors.py); never the API key. Both vLLM error shapes are understood: flat
`{"object":"error","message":..}` (0.6.4) and nested `{"error":{"message":..}}` (>= 0.10.1).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aigw_common.errors import (
    UpstreamError,
    UpstreamInvalidRequest,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from model_proxy_svc.providers.base import Upstream
from model_proxy_svc.providers.upstream_errors import clean, metadata_of
from model_proxy_svc.retries import (
    RETRYABLE_SERVER_STATUSES,
    RetryableUpstreamError,
    retry_after_s,
)

# What a server answers when the request itself is wrong; sending it again cannot help.
INVALID_REQUEST_STATUSES = frozenset({400, 404, 413, 422})


def error_detail(payload: Any) -> str | None:
    """The server's own message from either vLLM error shape (or `{"error": "text"}`)."""
    if not isinstance(payload, dict):
        return None
    inner = payload.get("error")
    if isinstance(inner, str):
        return inner
    error = inner if isinstance(inner, dict) else payload
    message = error.get("message")
    return message if isinstance(message, str) else None


def status_error(
    status: int,
    body: bytes,
    upstream: Upstream,
    path: str,
    headers: Mapping[str, str] | None = None,
) -> UpstreamError:
    """The domain error for a non-200 answer to `path`; 429 and 500/502/503/504 are retryable,
    with the wait the server asked for in `headers` (Retry-After)."""
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = None
    # An OpenAI-shaped error means the server understood the route (e.g. unknown model); other
    # bodies come from whatever else answered (a web framework's 404, a load balancer).
    detail = error_detail(payload)
    openai_shaped = detail is not None
    if detail is None and isinstance(payload, dict) and isinstance(payload.get("detail"), str):
        detail = payload["detail"]
    if detail is None and body and payload is None:
        detail = body.decode(errors="replace")
    said = f": {clean(detail, upstream)}" if detail else ""
    subject = upstream.describe()
    metadata = metadata_of(upstream, http_status=str(status))
    if detail:
        metadata["upstream_message"] = clean(detail, upstream)
    if status == 404 and openai_shaped:
        return UpstreamInvalidRequest(
            f"{subject}: the server does not serve the identifier {upstream.identifier!r} "
            f"(HTTP 404{said}); call ListProviderModels to see the identifiers it serves",
            metadata=metadata,
        )
    if status == 404:
        return UpstreamRejected(
            f"{subject}: the server has no {path} route (HTTP 404{said}); the endpoint must "
            "be the OpenAI-compatible base URL, usually ending in /v1",
            metadata=metadata,
        )
    if status in (401, 403):
        return UpstreamRejected(
            f"{subject}: the server refused the credentials (HTTP {status}{said}); "
            "check the model's API key",
            metadata=metadata,
        )
    if status == 408:
        return UpstreamTimeout(
            f"{subject}: the server timed out (HTTP 408{said})", metadata=metadata
        )
    if status == 429:
        return RetryableUpstreamError(
            f"{subject}: the server is overloaded (HTTP 429{said}); retry later",
            metadata=metadata,
            retry_after_s=retry_after_s(headers or {}),
        )
    if status in RETRYABLE_SERVER_STATUSES:
        return RetryableUpstreamError(
            f"{subject}: the server failed (HTTP {status}{said or ' with no detail'})",
            metadata=metadata,
            retry_after_s=retry_after_s(headers or {}),
        )
    if status in INVALID_REQUEST_STATUSES:
        return UpstreamInvalidRequest(
            f"{subject}: the server refused the request (HTTP {status}{said})", metadata=metadata
        )
    if 400 <= status < 500:
        return UpstreamRejected(
            f"{subject}: the server rejected the request (HTTP {status}{said})", metadata=metadata
        )
    return UpstreamUnavailable(
        f"{subject}: the server failed (HTTP {status}{said or ' with no detail'})",
        metadata=metadata,
    )


def stream_error(payload: dict[str, Any], upstream: Upstream) -> UpstreamError:
    """The domain error for an error event inside a 200 stream."""
    inner = payload.get("error")
    code = inner.get("code") if isinstance(inner, dict) else None
    detail = error_detail(payload) or "no detail"
    message = f"{upstream.describe()}: the server failed mid-stream: {clean(detail, upstream)}"
    metadata = metadata_of(upstream)
    if isinstance(code, int) and 400 <= code < 500 and code != 429:
        return UpstreamRejected(message, metadata=metadata)
    return UpstreamUnavailable(message, metadata=metadata)
