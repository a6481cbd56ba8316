"""The process lifecycle: SERVING once started, a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aigw.modelproxy.v1 import model_proxy_service_pb2 as pb
from aigw.modelproxy.v1 import model_proxy_service_pb2_grpc as pb_grpc
from aigw_common.settings import ModelProxySettings, Settings
from aigw_simulator import BackgroundSimulator, simulated_text
from model_proxy_svc.server import SERVICE_NAME, serve
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
    settings = settings.model_copy(
        update={"model_proxy": ModelProxySettings(port=port, grace_period_s=0.1)}
    )
    default_handler = signal.getsignal(signal.SIGTERM)
    task = asyncio.create_task(serve(settings))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        deadline = time.monotonic() + 5
        while not (await _serving(channel, "") and await _serving(channel, SERVICE_NAME)):
            assert time.monotonic() < deadline, "never SERVING"
            await asyncio.sleep(0.02)
        stub = pb_grpc.ModelProxyServiceStub(channel)
        response = await stub.Generate(pb.GenerateRequest(generation=chat(simulator.endpoint)))
        assert response.text == simulated_text(SIM_TOKENS)

        # Only signal once serve() handles SIGTERM, or the default action ends the test run.
        while signal.getsignal(signal.SIGTERM) is default_handler:
            assert time.monotonic() < deadline, "no SIGTERM handler"
            await asyncio.sleep(0.01)
        signal.raise_signal(signal.SIGTERM)
        await asyncio.wait_for(task, timeout=5)

    assert settings.sealing_key_path.exists()
