"""Server side: count every RPC by service, method and final status code, and time it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc

from aigw_common import metrics
from aigw_common.errors import AigwError
from aigw_common.interceptors._wrapping import wrap_handler

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context, Continuation, Handler, StreamBehavior, UnaryBehavior


def final_code(context: Context, error: BaseException | None) -> grpc.StatusCode:
    """The status an RPC ended with, given what its behaviour raised (None: it returned)."""
    if isinstance(error, (asyncio.CancelledError, GeneratorExit)):
        return grpc.StatusCode.CANCELLED
    if isinstance(error, AigwError):
        return error.grpc_code
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.OK if error is None else grpc.StatusCode.UNKNOWN


def split_method(method: str) -> tuple[str, str]:
    """`/pkg.Service/Method` -> (`pkg.Service`, `Method`)."""
    service, _, name = method.lstrip("/").partition("/")
    return service, name


class ServerMetricsInterceptor(grpc.aio.ServerInterceptor):
    """Outermost interceptor: sees the status every other layer (auth, error mapping) set."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        labels = split_method(handler_call_details.method)
        return wrap_handler(
            await continuation(handler_call_details),
            unary=lambda behavior: _unary(behavior, labels),
            stream=lambda behavior: _stream(behavior, labels),
        )


def _observe(labels: tuple[str, str], started: float, code: grpc.StatusCode) -> None:
    metrics.GRPC_HANDLED.labels(*labels, code.name).inc()
    metrics.GRPC_HANDLING.labels(*labels).observe(time.perf_counter() - started)
    metrics.GRPC_IN_FLIGHT.labels(*labels).dec()


def _unary(behavior: UnaryBehavior, labels: tuple[str, str]) -> UnaryBehavior:
    async def wrapped(request: Any, context: Context) -> Any:
        metrics.GRPC_IN_FLIGHT.labels(*labels).inc()
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return await behavior(request, context)
        except BaseException as raised:
            error = raised
            raise
        finally:
            _observe(labels, started, final_code(context, error))

    return wrapped


def _stream(behavior: StreamBehavior, labels: tuple[str, str]) -> StreamBehavior:
    async def wrapped(request: Any, context: Context) -> AsyncIterator[Any]:
        metrics.GRPC_IN_FLIGHT.labels(*labels).inc()
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            async for response in behavior(request, context):
                yield response
        except BaseException as raised:
            error = raised
            raise
        finally:
            _observe(labels, started, final_code(context, error))

    return wrapped
