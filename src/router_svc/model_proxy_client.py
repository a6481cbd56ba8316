"""The router's client of model_proxy_svc: every failure leaves it as the domain error the proxy
reported (aigw_common.errors), never as grpc.aio.AioRpcError."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import grpc

from aigw.common.v1 import common_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2 as pb
from aigw.modelproxy.v1 import model_proxy_service_pb2_grpc as pb_grpc
from aigw_common.grpc_errors import from_rpc_error


class ModelProxyClient:
    """Generate, StreamGenerate and ListProviderModels over one long-lived channel."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = pb_grpc.ModelProxyServiceStub(channel)

    async def generate(self, generation: pb.Generation, *, timeout_s: float) -> pb.GenerateResponse:
        """The whole answer within `timeout_s`, or the proxy's domain error."""
        try:
            return await self._stub.Generate(
                pb.GenerateRequest(generation=generation), timeout=timeout_s
            )
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None

    async def list_models(
        self, target: common_pb2.ModelTarget, *, timeout_s: float
    ) -> pb.ListProviderModelsResponse:
        """What the target's server serves, or the proxy's domain error."""
        try:
            return await self._stub.ListProviderModels(
                pb.ListProviderModelsRequest(target=target), timeout=timeout_s
            )
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None

    async def whole_as_stream(
        self, generation: pb.Generation, *, timeout_s: float
    ) -> AsyncGenerator[pb.StreamGenerateResponse, None]:
        """Generate's whole answer as a one-chunk stream, for model servers whose streaming is
        broken (AIGW_CUSTOM_MODELS__DISABLE_STREAMING)."""
        whole = await self.generate(generation, timeout_s=timeout_s)
        yield pb.StreamGenerateResponse(
            text=whole.text, finish_reason=whole.finish_reason, usage=whole.usage
        )

    async def stream(
        self, generation: pb.Generation, *, timeout_s: float
    ) -> AsyncGenerator[pb.StreamGenerateResponse, None]:
        """The answer's chunks within `timeout_s`, or the proxy's domain error. Closing the
        generator (the router's caller went away) cancels the call, which makes the proxy close
        the model server's response."""
        call = self._stub.StreamGenerate(
            pb.StreamGenerateRequest(generation=generation), timeout=timeout_s
        )
        try:
            async for chunk in call:
                yield chunk
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None
        finally:
            call.cancel()
