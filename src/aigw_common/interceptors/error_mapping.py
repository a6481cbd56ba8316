"""Server side: turn domain errors into gRPC status with details; hide everything else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
import structlog

from aigw_common.errors import AigwError
from aigw_common.grpc_errors import internal_status, to_status
from aigw_common.interceptors._wrapping import wrap_handler

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context, Continuation, Handler, StreamBehavior, UnaryBehavior

_log = structlog.get_logger(__name__)


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Aborts with the mapped status when a servicer raises; `domain` names the service."""

    def __init__(self, domain: str) -> None:
        self._domain = domain

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = handler_call_details.method
        return wrap_handler(
            await continuation(handler_call_details),
            unary=lambda behavior: self._unary(behavior, method),
            stream=lambda behavior: self._stream(behavior, method),
        )

    async def _abort(self, context: Context, error: Exception, method: str) -> None:
        if isinstance(error, AigwError):
            _log.info(
                "request failed",
                method=method,
                code=error.grpc_code.name,
                reason=error.reason,
                error=error.message,
            )
            await context.abort_with_status(to_status(error, self._domain))
        _log.error("unexpected error", method=method, exc_info=error)
        await context.abort_with_status(internal_status())

    def _unary(self, behavior: UnaryBehavior, method: str) -> UnaryBehavior:
        async def wrapped(request: Any, context: Context) -> Any:
            try:
                return await behavior(request, context)
            except Exception as error:
                if _is_abort(error):
                    raise
                await self._abort(context, error, method)

        return wrapped

    def _stream(self, behavior: StreamBehavior, method: str) -> StreamBehavior:
        async def wrapped(request: Any, context: Context) -> AsyncIterator[Any]:
            try:
                async for response in behavior(request, context):
                    yield response
            except Exception as error:
                if _is_abort(error):
                    raise
                await self._abort(context, error, method)

        return wrapped


def _is_abort(error: Exception) -> bool:
    # context.abort() raises this to unwind the handler; it must pass through untouched.
    return isinstance(error, grpc.aio.AbortError)
