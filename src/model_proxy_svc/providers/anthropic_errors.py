"""Anthropic failures as domain errors: `{"type":"error","error":{"type":..,"message":..}}` in
HTTP errors and in `event: error` inside a 200 stream (providers.md §4)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aigw_common.errors import UpstreamError, UpstreamRejected, UpstreamUnavailable
from model_proxy_svc.providers.base import Upstream
from model_proxy_svc.providers.upstream_errors import clean, metadata_of
from model_proxy_svc.retries import (
    RETRYABLE_SERVER_STATUSES,
    RetryableUpstreamError,
    retry_after_s,
)

_ADVICE = {
    "authentication_error": "check the model's API key",
    "permission_error": "the API key may not use this model",
    "not_found_error": "check the identifier (an Anthropic model id) and the endpoint",
    "request_too_large": "shorten the prompt",
}


def _said(error: Any) -> tuple[str, str]:
    inner = error.get("error") if isinstance(error, dict) else None
    if not isinstance(inner, dict):
        return "", ""
    kind, message = inner.get("type"), inner.get("message")
    return (kind if isinstance(kind, str) else ""), (message if isinstance(message, str) else "")


def status_error(
    status: int, body: bytes, upstream: Upstream, headers: Mapping[str, str]
) -> UpstreamError:
    """The domain error for a non-200 answer; 429, 500-504 and 529 (overloaded) are retryable."""
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = None
    kind, message = _said(payload)
    detail = f"{kind}: {clean(message, upstream)}" if kind else f"HTTP {status}"
    text = f"{upstream.describe()}: Anthropic refused (HTTP {status}, {detail})"
    metadata = metadata_of(upstream, http_status=str(status))
    if status in (429, 529) or status in RETRYABLE_SERVER_STATUSES:
        return RetryableUpstreamError(
            f"{text}; retry later", metadata=metadata, retry_after_s=retry_after_s(headers)
        )
    if 400 <= status < 500:
        advice = _ADVICE.get(kind)
        return UpstreamRejected(f"{text}; {advice}" if advice else text, metadata=metadata)
    return UpstreamUnavailable(text, metadata=metadata)


def error_event(payload: dict[str, Any], upstream: Upstream) -> UpstreamError:
    """The domain error for `event: error` inside a 200 stream."""
    kind, message = _said(payload)
    text = (
        f"{upstream.describe()}: Anthropic failed mid-stream "
        f"({kind or 'error'}: {clean(message or 'no detail', upstream)})"
    )
    metadata = metadata_of(upstream, anthropic_error=kind or "unknown")
    if kind in ("overloaded_error", "rate_limit_error"):
        return RetryableUpstreamError(text, metadata=metadata)
    if kind in ("invalid_request_error", "request_too_large"):
        return UpstreamRejected(text, metadata=metadata)
    return UpstreamUnavailable(text, metadata=metadata)
