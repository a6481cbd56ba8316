"""One log line per call to a model server, and the upstream-error counter by type.

It sees the domain error a provider adapter raised (its reason names the type:
UPSTREAM_TIMEOUT, UPSTREAM_UNAVAILABLE, ...).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import structlog

from aigw_common import metrics
from aigw_common.errors import AigwError
from aigw_common.interceptors.lifecycle import Call, Observation, Observer

if TYPE_CHECKING:
    import grpc

    from aigw_common.grpc_types import Context

_log = structlog.get_logger("aigw.upstream")

_GENERATIONS = frozenset(
    {
        "/aigw.modelproxy.v1.ModelProxyService/Generate",
        "/aigw.modelproxy.v1.ModelProxyService/StreamGenerate",
    }
)


class UpstreamLog(Observer):
    """Watches Generate and StreamGenerate; other methods pass unseen."""

    def applies_to(self, method: str) -> bool:
        return method in _GENERATIONS

    def begin(self, call: Call, request: Any, context: Context) -> Observation:
        return _UpstreamCall(request, streaming=call.streaming)


class _UpstreamCall(Observation):
    __slots__ = ("_first_chunk_s", "_request", "_started", "_streaming")
    watches_messages = True

    def __init__(self, request: Any, *, streaming: bool) -> None:
        self._request = request
        self._streaming = streaming
        self._started = time.perf_counter()
        self._first_chunk_s: float | None = None

    def message(self, response: Any) -> None:
        # Time to the first chunk of a stream; a single reply has no first chunk.
        if self._first_chunk_s is None and self._streaming:
            self._first_chunk_s = time.perf_counter() - self._started

    def end(self, code: grpc.StatusCode, error: BaseException | None) -> None:
        target = self._request.generation.target
        provider = metrics.provider_label(target.platform)
        if error is None:
            outcome = "OK"
        elif isinstance(error, AigwError):
            outcome = error.reason
            metrics.UPSTREAM_ERRORS.labels(provider, error.reason).inc()
        elif isinstance(error, (asyncio.CancelledError, GeneratorExit)):
            outcome = "CANCELLED"
        else:
            outcome = "INTERNAL"
            metrics.UPSTREAM_ERRORS.labels(provider, "INTERNAL").inc()
        first_chunk_s = self._first_chunk_s
        _log.info(
            "upstream call",
            provider=provider,
            identifier=target.identifier,
            outcome=outcome,
            duration_s=round(time.perf_counter() - self._started, 6),
            time_to_first_chunk_s=None if first_chunk_s is None else round(first_chunk_s, 6),
        )
