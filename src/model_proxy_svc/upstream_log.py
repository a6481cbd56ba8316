"""One log line per call to a model server, and the upstream-error counter by type.

Installed inside the error-mapping interceptor, so it sees the domain error a provider adapter
raised (its reason names the type: UPSTREAM_TIMEOUT, UPSTREAM_UNAVAILABLE, ...).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
import structlog

from aigw_common import metrics
from aigw_common.errors import AigwError
from aigw_common.interceptors._wrapping import wrap_handler

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context, Continuation, Handler, StreamBehavior, UnaryBehavior

_log = structlog.get_logger("aigw.upstream")

_GENERATIONS = frozenset(
    {
        "/aigw.modelproxy.v1.ModelProxyService/Generate",
        "/aigw.modelproxy.v1.ModelProxyService/StreamGenerate",
    }
)


class UpstreamLogInterceptor(grpc.aio.ServerInterceptor):
    """Wraps Generate and StreamGenerate; other methods pass through."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler_call_details.method not in _GENERATIONS:
            return handler
        return wrap_handler(handler, unary=_unary, stream=_stream)


def _unary(behavior: UnaryBehavior) -> UnaryBehavior:
    async def wrapped(request: Any, context: Context) -> Any:
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return await behavior(request, context)
        except BaseException as raised:
            error = raised
            raise
        finally:
            _finish(request, started, None, error)

    return wrapped


def _stream(behavior: StreamBehavior) -> StreamBehavior:
    async def wrapped(request: Any, context: Context) -> AsyncIterator[Any]:
        started = time.perf_counter()
        first_chunk_s: float | None = None
        error: BaseException | None = None
        try:
            async for response in behavior(request, context):
                if first_chunk_s is None:
                    first_chunk_s = time.perf_counter() - started
                yield response
        except BaseException as raised:
            error = raised
            raise
        finally:
            _finish(request, started, first_chunk_s, error)

    return wrapped


def _finish(
    request: Any, started: float, first_chunk_s: float | None, error: BaseException | None
) -> None:
    target = request.generation.target
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
    _log.info(
        "upstream call",
        provider=provider,
        identifier=target.identifier,
        outcome=outcome,
        duration_s=round(time.perf_counter() - started, 6),
        time_to_first_chunk_s=None if first_chunk_s is None else round(first_chunk_s, 6),
    )
