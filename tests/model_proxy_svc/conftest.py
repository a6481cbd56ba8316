"""A model proxy served in-process on a free port, in front of a simulator on a real socket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import grpc
import pytest
from cryptography.fernet import Fernet

from aigw.common.v1 import common_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2 as pb
from aigw.modelproxy.v1 import model_proxy_service_pb2_grpc as pb_grpc
from aigw_common.interceptors.service_auth import ServiceAuth
from aigw_common.secrets_box import SecretsBox
from aigw_common.settings import Settings
from aigw_simulator import BackgroundSimulator, SimulatorConfig
from model_proxy_svc.clients import HttpClients
from model_proxy_svc.server import build_server

SIM_TOKENS = 8


@pytest.fixture(scope="module")
def _running_simulator() -> Iterator[BackgroundSimulator]:
    with BackgroundSimulator() as sim:
        yield sim


@pytest.fixture
def simulator(_running_simulator: BackgroundSimulator) -> BackgroundSimulator:
    """The module's simulator, reset: SIM_TOKENS tokens at full speed, no records."""
    _running_simulator.state.config = SimulatorConfig(tokens=SIM_TOKENS)
    _running_simulator.state.recorder.clear()
    return _running_simulator


@pytest.fixture
def secrets() -> SecretsBox:
    return SecretsBox(Fernet.generate_key())


@dataclass
class Proxy:
    stub: pb_grpc.ModelProxyServiceAsyncStub
    channel: grpc.aio.Channel
    clients: HttpClients


@pytest.fixture
async def proxy(settings: Settings, secrets: SecretsBox) -> AsyncIterator[Proxy]:
    clients = HttpClients(settings.model_proxy)
    server, port = await build_server(
        settings, clients=clients, secrets=secrets, auth=ServiceAuth.disabled_for_tests()
    )
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Proxy(pb_grpc.ModelProxyServiceStub(channel), channel, clients)
    finally:
        await channel.close()
        await server.stop(0)
        await clients.aclose()


def target(endpoint: str, **overrides: object) -> common_pb2.ModelTarget:
    """An OpenAI-compatible target for the simulator's model."""
    fields: dict[str, object] = {
        "name": "sim-model",
        "family": "codestral",
        "platform": common_pb2.PLATFORM_OPENAI_COMPATIBLE,
        "endpoint": endpoint,
        "identifier": "aigw-simulator",
        **overrides,
    }
    return common_pb2.ModelTarget(**fields)  # type: ignore[arg-type]


def chat(endpoint: str, text: str = "hello there", **target_overrides: object) -> pb.Generation:
    return pb.Generation(
        target=target(endpoint, **target_overrides),
        chat=pb.ChatMessages(
            messages=[common_pb2.Message(role=common_pb2.ROLE_USER, content=text)]
        ),
    )


def prompt(
    endpoint: str, text: str = "def add(a, b):", **target_overrides: object
) -> pb.Generation:
    return pb.Generation(target=target(endpoint, **target_overrides), prompt=text)


async def failure(
    proxy: Proxy, generation: pb.Generation, *, streamed: bool
) -> grpc.aio.AioRpcError:
    """The error a Generate (or a fully read StreamGenerate) call ends with."""
    try:
        if streamed:
            request = pb.StreamGenerateRequest(generation=generation)
            async for _ in proxy.stub.StreamGenerate(request):
                pass
        else:
            await proxy.stub.Generate(pb.GenerateRequest(generation=generation))
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError("the call succeeded")


async def read_until_error(
    call: grpc.aio.UnaryStreamCall[pb.StreamGenerateRequest, pb.StreamGenerateResponse],
) -> tuple[list[pb.StreamGenerateResponse], grpc.aio.AioRpcError]:
    """The chunks a stream delivered before it failed, and the error."""
    received: list[pb.StreamGenerateResponse] = []
    try:
        async for chunk in call:
            received.append(chunk)
    except grpc.aio.AioRpcError as error:
        return received, error
    raise AssertionError("the stream ended without an error")


def details(error: grpc.aio.AioRpcError) -> str:
    return error.details() or ""


async def read_chunk(
    call: grpc.aio.UnaryStreamCall[pb.StreamGenerateRequest, pb.StreamGenerateResponse],
) -> pb.StreamGenerateResponse:
    chunk = await call.read()
    assert isinstance(chunk, pb.StreamGenerateResponse), "the stream ended"
    return chunk
