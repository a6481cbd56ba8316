"""The shared interceptors on a real in-process server: error mapping and request context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import pytest

from aigw.router.v1 import router_service_pb2, router_service_pb2_grpc
from aigw_common import errors
from aigw_common.channels import open_channel
from aigw_common.grpc_errors import from_rpc_error
from aigw_common.grpc_server import create_server
from aigw_common.request_context import REQUEST_ID_KEY, request_id_var
from aigw_common.settings import GrpcServiceSettings

if TYPE_CHECKING:
    from aigw.router.v1.router_service_pb2_grpc import RouterServiceAsyncStub
    from aigw_common.grpc_types import Context

DOMAIN = "test.aigw"
_Running = tuple["_Servicer", "RouterServiceAsyncStub"]


class _Servicer(router_service_pb2_grpc.RouterServiceServicer):
    """Behaves according to the requested feature, so each test picks an outcome."""

    def __init__(self, downstream: RouterServiceAsyncStub | None) -> None:
        self.downstream = downstream
        self.seen_request_ids: list[str | None] = []

    async def Complete(
        self, request: router_service_pb2.CompleteRequest, context: Context
    ) -> router_service_pb2.CompleteResponse:
        self.seen_request_ids.append(request_id_var.get())
        feature = request.completion.feature
        if feature == "invalid":
            raise errors.InvalidArgument("completion.prompt is too long", field="completion.prompt")
        if feature == "bug":
            raise RuntimeError("secret-ish internal detail")
        if feature == "forward" and self.downstream is not None:
            forwarded = router_service_pb2.CompleteRequest(
                completion=router_service_pb2.Completion(feature="echo")
            )
            return await self.downstream.Complete(forwarded, timeout=5)
        return router_service_pb2.CompleteResponse(text=request_id_var.get() or "")

    async def StreamComplete(
        self, request: router_service_pb2.StreamCompleteRequest, context: Context
    ) -> AsyncIterator[router_service_pb2.StreamCompleteResponse]:
        yield router_service_pb2.StreamCompleteResponse(text="first")
        raise errors.UpstreamUnavailable("model m at http://x is unreachable")

    async def StreamAgent(
        self, request: router_service_pb2.StreamAgentRequest, context: Context
    ) -> AsyncIterator[router_service_pb2.StreamAgentResponse]:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not used by these tests")
        yield router_service_pb2.StreamAgentResponse()

    async def ListModels(
        self, request: router_service_pb2.ListModelsRequest, context: Context
    ) -> router_service_pb2.ListModelsResponse:
        return router_service_pb2.ListModelsResponse()


@pytest.fixture
async def server() -> AsyncIterator[_Running]:
    downstream_servicer = _Servicer(None)
    downstream = create_server(GrpcServiceSettings(port=0), domain=DOMAIN)
    router_service_pb2_grpc.add_RouterServiceServicer_to_server(downstream_servicer, downstream)
    downstream_port = downstream.add_insecure_port("127.0.0.1:0")
    await downstream.start()
    downstream_channel = open_channel(f"127.0.0.1:{downstream_port}")

    servicer = _Servicer(router_service_pb2_grpc.RouterServiceStub(downstream_channel))
    upstream = create_server(GrpcServiceSettings(port=0), domain=DOMAIN)
    router_service_pb2_grpc.add_RouterServiceServicer_to_server(servicer, upstream)
    port = upstream.add_insecure_port("127.0.0.1:0")
    await upstream.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield servicer, router_service_pb2_grpc.RouterServiceStub(channel)
    await downstream_channel.close()
    await upstream.stop(None)
    await downstream.stop(None)


def _request(feature: str) -> router_service_pb2.CompleteRequest:
    return router_service_pb2.CompleteRequest(
        completion=router_service_pb2.Completion(feature=feature)
    )


async def test_domain_errors_become_status_with_error_info_and_field(server: _Running) -> None:
    _, stub = server
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Complete(_request("invalid"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = from_rpc_error(caught.value)
    assert isinstance(error, errors.InvalidArgument)
    assert error.field == "completion.prompt"
    assert error.message == "completion.prompt is too long"


async def test_unexpected_errors_are_internal_without_their_text(server: _Running) -> None:
    _, stub = server
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Complete(_request("bug"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "secret-ish" not in (caught.value.details() or "")
    # ...and the server keeps serving.
    assert (await stub.Complete(_request("echo"), timeout=5)).text


async def test_errors_after_the_first_chunk_end_the_stream_with_the_mapped_code(
    server: _Running,
) -> None:
    _, stub = server
    call = stub.StreamComplete(router_service_pb2.StreamCompleteRequest(), timeout=5)
    first = await call.read()
    assert isinstance(first, router_service_pb2.StreamCompleteResponse)
    assert first.text == "first"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert isinstance(from_rpc_error(caught.value), errors.UpstreamUnavailable)


async def test_request_id_is_taken_echoed_and_forwarded_downstream(server: _Running) -> None:
    servicer, stub = server
    call = stub.Complete(_request("forward"), metadata=[(REQUEST_ID_KEY, "req-42")], timeout=5)
    response = await call
    assert response.text == "req-42"  # what the downstream service saw
    assert servicer.seen_request_ids == ["req-42"]
    assert (REQUEST_ID_KEY, "req-42") in list(await call.trailing_metadata())


async def test_a_request_id_is_generated_when_absent_or_unusable(server: _Running) -> None:
    _, stub = server
    generated = await stub.Complete(_request("echo"), timeout=5)
    assert len(generated.text) == 32
    unusable = await stub.Complete(
        _request("echo"), metadata=[(REQUEST_ID_KEY, "x" * 500)], timeout=5
    )
    assert len(unusable.text) == 32
    assert unusable.text != generated.text
