"""Server side: take the correlation id from metadata (or make one), bind it for the call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
import structlog

from aigw_common.interceptors._wrapping import wrap_handler
from aigw_common.request_context import REQUEST_ID_KEY, accept_request_id, request_id_var

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context, Continuation, Handler, StreamBehavior, UnaryBehavior


def _enter(context: Context) -> None:
    metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
    request_id = accept_request_id(metadata.get(REQUEST_ID_KEY))
    request_id_var.set(request_id)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(correlation_id=request_id)
    context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))


class RequestContextInterceptor(grpc.aio.ServerInterceptor):
    """Binds `x-request-id` (echoed in trailing metadata) for each call."""

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        return wrap_handler(await continuation(handler_call_details), unary=_unary, stream=_stream)


def _unary(behavior: UnaryBehavior) -> UnaryBehavior:
    async def wrapped(request: Any, context: Context) -> Any:
        _enter(context)
        return await behavior(request, context)

    return wrapped


def _stream(behavior: StreamBehavior) -> StreamBehavior:
    async def wrapped(request: Any, context: Context) -> AsyncIterator[Any]:
        _enter(context)
        async for response in behavior(request, context):
            yield response

    return wrapped
