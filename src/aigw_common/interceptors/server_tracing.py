"""Server side: one SERVER span per RPC, a child of the caller's `traceparent` metadata, current
while the servicer runs (so the calls it makes carry it on)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry import trace

from aigw_common.interceptors.lifecycle import Call, Observation, Observer, is_infrastructure
from aigw_common.tracing import server_span

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context


class ServerTracing(Observer):
    """Continues the caller's trace for each call (OpenTelemetry's RPC span conventions)."""

    def applies_to(self, method: str) -> bool:
        # Probes and reflection: a span every few seconds that says nothing about a request.
        return not is_infrastructure(method)

    def begin(self, call: Call, request: Any, context: Context) -> Observation:
        return _Span(call)


class _Span(Observation):
    __slots__ = ("_scope", "_span")

    def __init__(self, call: Call) -> None:
        self._scope: AbstractContextManager[trace.Span] = server_span(
            call.method.lstrip("/"), call.metadata
        )
        self._span = self._scope.__enter__()
        self._span.set_attributes(
            {"rpc.system": "grpc", "rpc.service": call.service, "rpc.method": call.name}
        )

    def end(self, code: grpc.StatusCode, error: BaseException | None) -> None:
        self._span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code != grpc.StatusCode.OK:
            self._span.set_status(trace.Status(trace.StatusCode.ERROR, code.name))
        self._scope.__exit__(None, None, None)
