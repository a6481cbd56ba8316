"""Server side: one SERVER span per RPC, a child of the caller's `traceparent` metadata, current
while the servicer runs (so the calls it makes carry it on)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry import trace

from aigw_common.interceptors._wrapping import wrap_handler
from aigw_common.interceptors.server_metrics import final_code, split_method
from aigw_common.tracing import server_span

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context, Continuation, Handler, StreamBehavior, UnaryBehavior


# Probes and reflection: a span every few seconds that says nothing about a request.
_UNTRACED = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class ServerTracingInterceptor(grpc.aio.ServerInterceptor):
    """Continues the caller's trace for each call (OpenTelemetry's RPC span conventions)."""

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = handler_call_details.method
        handler = await continuation(handler_call_details)
        if method.startswith(_UNTRACED):
            return handler
        return wrap_handler(
            handler,
            unary=lambda behavior: _unary(behavior, method),
            stream=lambda behavior: _stream(behavior, method),
        )


def _carrier(context: Context) -> dict[str, str]:
    return {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}


def _start(span: trace.Span, method: str) -> None:
    service, name = split_method(method)
    span.set_attributes({"rpc.system": "grpc", "rpc.service": service, "rpc.method": name})


def _end(span: trace.Span, context: Context, error: BaseException | None) -> None:
    code = final_code(context, error)
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code != grpc.StatusCode.OK:
        span.set_status(trace.Status(trace.StatusCode.ERROR, code.name))


def _unary(behavior: UnaryBehavior, method: str) -> UnaryBehavior:
    async def wrapped(request: Any, context: Context) -> Any:
        with server_span(method.lstrip("/"), _carrier(context)) as span:
            _start(span, method)
            try:
                response = await behavior(request, context)
            except BaseException as error:
                _end(span, context, error)
                raise
            _end(span, context, None)
            return response

    return wrapped


def _stream(behavior: StreamBehavior, method: str) -> StreamBehavior:
    async def wrapped(request: Any, context: Context) -> AsyncIterator[Any]:
        with server_span(method.lstrip("/"), _carrier(context)) as span:
            _start(span, method)
            try:
                async for response in behavior(request, context):
                    yield response
            except BaseException as error:
                _end(span, context, error)
                raise
            _end(span, context, None)

    return wrapped
