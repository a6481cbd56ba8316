"""The process lifecycle: SERVING once started, only aigw's services admitted, a clean stop on
SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aigw.modelproxy.v1 import model_proxy_service_pb2 as pb
from aigw.modelproxy.v1 import model_proxy_service_pb2_grpc as pb_grpc
from aigw_common.settings import ModelProxySettings, Settings
from aigw_simulator import BackgroundSimulator, simulated_text
from model_proxy_svc.server import SERVICE_NAME, serve
from tests.auth_support import running_auth_svc
from tests.model_proxy_svc.conftest import SIM_TOKENS, chat


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _serving(channel: grpc.aio.Channel, service: str) -> bool:
    stub: Any = health_pb2_grpc.HealthStub(channel)
    try:
        response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=0.5)
    except grpc.aio.AioRpcError:
        return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


async def test_serve_until_sigterm(settings: Settings, simulator: BackgroundSimulator) -> None:
    port = _free_port()
    async with running_auth_svc(settings) as auth:
        settings = auth.settings.model_copy(
            update={"model_proxy": ModelProxySettings(port=port, grace_period_s=0.1)}
        )
        await _serve_until_sigterm(settings, simulator, auth.service_metadata(), auth.token)


async def _serve_until_sigterm(
    settings: Settings,
    simulator: BackgroundSimulator,
    service_metadata: list[tuple[str, str]],
    token: Callable[..., str],
) -> None:
    port = settings.model_proxy.port
    default_handler = signal.getsignal(signal.SIGTERM)
    task = asyncio.create_task(serve(settings))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        deadline = time.monotonic() + 5
        while not (await _serving(channel, "") and await _serving(channel, SERVICE_NAME)):
            assert time.monotonic() < deadline, "never SERVING"
            await asyncio.sleep(0.02)
        stub = pb_grpc.ModelProxyServiceStub(channel)
        request = pb.GenerateRequest(generation=chat(simulator.endpoint))
        response = await stub.Generate(request, metadata=service_metadata)
        assert response.text == simulated_text(SIM_TOKENS)
        # Only aigw's services may call: no token, or a user's token, is refused.
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Generate(request)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        user = [("authorization", f"Bearer {token('complete_code')}")]
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Generate(request, metadata=user)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED

        # Only signal once serve() handles SIGTERM, or the default action ends the test run.
        while signal.getsignal(signal.SIGTERM) is default_handler:
            assert time.monotonic() < deadline, "no SIGTERM handler"
            await asyncio.sleep(0.01)
        signal.raise_signal(signal.SIGTERM)
        await asyncio.wait_for(task, timeout=5)

    assert settings.sealing_key_path.exists()
