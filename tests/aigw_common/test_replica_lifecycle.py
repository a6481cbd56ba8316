"""What lets a service run as replicas behind a balancer: round_robin over every address,
liveness apart from readiness, a drain delay that still takes calls, a plaintext health port."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from aigw.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from aigw_cli.local_suite import free_ports
from aigw_common.channels import open_channel
from aigw_common.grpc_server import LIVENESS, READINESS, add_standard_services, create_server
from aigw_common.settings import AuthServiceSettings
from tests.polling import until

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _status(stub: Any, name: str) -> int:
    # grpc's health stubs are typed for sync channels only.
    response = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=2)
    status: int = response.status
    return status


class _Counting(health_pb2_grpc.HealthServicer):
    """A health service that counts the checks it answers."""

    def __init__(self, calls: list[int], index: int) -> None:
        self._calls, self._index = calls, index

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: object
    ) -> health_pb2.HealthCheckResponse:
        self._calls[self._index] += 1
        return health_pb2.HealthCheckResponse(status=_SERVING)


async def test_a_channel_spreads_calls_over_every_address_of_its_target() -> None:
    servers, calls = [], [0, 0]
    ports = free_ports(2)
    for index, port in enumerate(ports):
        server = create_server(AuthServiceSettings(port=port), domain="test")
        health_pb2_grpc.add_HealthServicer_to_server(_Counting(calls, index), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        servers.append(server)
    target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports)
    try:
        async with open_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            await channel.channel_ready()
            for _ in range(40):
                await _status(stub, "")
    finally:
        for server in servers:
            await server.stop(None)

    assert sum(calls) == 40
    assert min(calls) >= 15, calls


async def test_liveness_is_serving_before_readiness() -> None:
    (port,) = free_ports(1)
    settings = AuthServiceSettings(port=port)
    server = create_server(settings, domain="test")
    servicer = health.aio.HealthServicer()
    await add_standard_services(server, servicer, ["svc"], reflection_enabled=False)
    server.add_insecure_port(settings.listen_address)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(settings.listen_address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            assert await _status(stub, LIVENESS) == _SERVING
            assert await _status(stub, READINESS) == _NOT_SERVING
            assert await _status(stub, "") == _NOT_SERVING
    finally:
        await server.stop(None)


@pytest.fixture
async def auth_process(
    tmp_path: Path,
) -> AsyncIterator[tuple[asyncio.subprocess.Process, int, int]]:
    port, health_port = free_ports(2)
    env = {
        **os.environ,
        "AIGW_ENVIRONMENT": "development",
        "AIGW_DATA_DIR": str(tmp_path / "data"),
        "AIGW_AUTH_SVC__PORT": str(port),
        "AIGW_AUTH_SVC__HEALTH_PORT": str(health_port),
        "AIGW_AUTH_SVC__DRAIN_DELAY_S": "2",
        "AIGW_METRICS__ENABLED": "false",
        "AIGW_LOGGING__TO_FILE": str(tmp_path / "auth_svc.log"),
    }
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "auth_svc", env=env)
    try:
        yield process, port, health_port
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_sigterm_reports_not_ready_keeps_live_and_still_takes_calls_during_the_drain_delay(
    auth_process: tuple[asyncio.subprocess.Process, int, int],
) -> None:
    process, port, health_port = auth_process
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{health_port}") as probe_channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        probe = health_pb2_grpc.HealthStub(probe_channel)

        async def ready() -> bool:
            try:
                return await _status(probe, READINESS) == _SERVING
            except grpc.aio.AioRpcError:
                return False

        await until(ready, timeout_s=30)
        process.send_signal(signal.SIGTERM)

        async def draining() -> bool:
            return await _status(probe, READINESS) == _NOT_SERVING

        await until(draining, timeout_s=2)

        assert await _status(probe, LIVENESS) == _SERVING
        jwks = await auth_service_pb2_grpc.AuthServiceStub(channel).GetJwks(
            auth_service_pb2.GetJwksRequest(), timeout=2
        )
        assert jwks.jwks_json
        assert process.returncode is None
    assert await asyncio.wait_for(process.wait(), timeout=20) == 0
