"""The call lifecycle on a real in-process server: observers see the start, each response and
the end with the one final code; a guard's refusal ends the call before the servicer runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from prometheus_client import REGISTRY

from aigw.router.v1 import router_service_pb2, router_service_pb2_grpc
from aigw_common import errors
from aigw_common.grpc_server import create_server
from aigw_common.interceptors.lifecycle import Call, Guard, Observation, Observer
from aigw_common.settings import GrpcServiceSettings

if TYPE_CHECKING:
    from aigw.router.v1.router_service_pb2_grpc import RouterServiceAsyncStub
    from aigw_common.grpc_types import Context

_SERVICE = "aigw.router.v1.RouterService"


@dataclass
class _Seen(Observation):
    watches_messages = True
    texts: list[str] = field(default_factory=list)
    ended: list[tuple[grpc.StatusCode, type[BaseException] | None]] = field(default_factory=list)

    def message(self, response: Any) -> None:
        self.texts.append(response.text)

    def end(self, code: grpc.StatusCode, error: BaseException | None) -> None:
        self.ended.append((code, None if error is None else type(error)))


@dataclass
class _Recorder(Observer):
    calls: list[tuple[str, bool, _Seen]] = field(default_factory=list)

    def begin(self, call: Call, request: Any, context: Context) -> Observation:
        seen = _Seen()
        self.calls.append((call.name, call.streaming, seen))
        return seen


class _RefuseUnlessAsked(Guard):
    async def admit(self, call: Call, context: Context) -> None:
        if call.metadata.get("x-let-me-in") != "yes":
            raise errors.Unauthenticated("no")


class _Servicer(router_service_pb2_grpc.RouterServiceServicer):
    def __init__(self) -> None:
        self.served = 0

    async def Complete(
        self, request: router_service_pb2.CompleteRequest, context: Context
    ) -> router_service_pb2.CompleteResponse:
        self.served += 1
        if request.completion.feature == "bug":
            raise RuntimeError("unexpected")
        return router_service_pb2.CompleteResponse(text="whole")

    async def StreamComplete(
        self, request: router_service_pb2.StreamCompleteRequest, context: Context
    ) -> AsyncIterator[router_service_pb2.StreamCompleteResponse]:
        self.served += 1
        for text in ("a", "b", "c"):
            yield router_service_pb2.StreamCompleteResponse(text=text)

    async def StreamAgent(
        self, request: router_service_pb2.StreamAgentRequest, context: Context
    ) -> AsyncIterator[router_service_pb2.StreamAgentResponse]:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not used by these tests")
        yield router_service_pb2.StreamAgentResponse()

    async def ListModels(
        self, request: router_service_pb2.ListModelsRequest, context: Context
    ) -> router_service_pb2.ListModelsResponse:
        return router_service_pb2.ListModelsResponse()


@dataclass
class _Running:
    stub: RouterServiceAsyncStub
    servicer: _Servicer
    outer: _Recorder
    inner: _Recorder


@pytest.fixture
async def running() -> AsyncIterator[_Running]:
    outer, inner, servicer = _Recorder(), _Recorder(), _Servicer()
    server = create_server(
        GrpcServiceSettings(port=0), domain="test.aigw", plugs=[outer, _RefuseUnlessAsked(), inner]
    )
    router_service_pb2_grpc.add_RouterServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield _Running(router_service_pb2_grpc.RouterServiceStub(channel), servicer, outer, inner)
    await server.stop(None)


_ADMITTED = [("x-let-me-in", "yes")]


async def test_observers_see_each_streamed_message_and_the_end(running: _Running) -> None:
    call = running.stub.StreamComplete(
        router_service_pb2.StreamCompleteRequest(), metadata=_ADMITTED, timeout=5
    )
    assert [response.text async for response in call] == ["a", "b", "c"]

    for recorder in (running.outer, running.inner):
        [(name, streaming, seen)] = recorder.calls
        assert (name, streaming) == ("StreamComplete", True)
        assert seen.texts == ["a", "b", "c"]
        assert seen.ended == [(grpc.StatusCode.OK, None)]


async def test_a_refusal_ends_the_observers_begun_before_the_guard_only(
    running: _Running,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.Complete(router_service_pb2.CompleteRequest(), timeout=5)

    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    [(_, streaming, seen)] = running.outer.calls
    assert not streaming
    assert seen.ended == [(grpc.StatusCode.UNAUTHENTICATED, errors.Unauthenticated)]
    assert running.inner.calls == []
    assert running.servicer.served == 0


async def test_every_observer_reports_the_code_the_caller_receives(running: _Running) -> None:
    labels = {"grpc_service": _SERVICE, "grpc_method": "Complete", "grpc_code": "INTERNAL"}
    before = REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0
    request = router_service_pb2.CompleteRequest(
        completion=router_service_pb2.Completion(feature="bug")
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.Complete(request, metadata=_ADMITTED, timeout=5)

    # An unexpected error reaches the caller as INTERNAL; the access log and the inference
    # metrics once said UNKNOWN for it while the server metrics said INTERNAL.
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    for recorder in (running.outer, running.inner):
        [(_, _, seen)] = recorder.calls
        assert seen.ended == [(grpc.StatusCode.INTERNAL, RuntimeError)]
    assert REGISTRY.get_sample_value("grpc_server_handled_total", labels) == before + 1


async def test_a_single_reply_is_seen_as_one_message(running: _Running) -> None:
    response = await running.stub.Complete(
        router_service_pb2.CompleteRequest(), metadata=_ADMITTED, timeout=5
    )

    assert response.text == "whole"
    [(_, _, seen)] = running.inner.calls
    assert seen.texts == ["whole"]
    assert seen.ended == [(grpc.StatusCode.OK, None)]
