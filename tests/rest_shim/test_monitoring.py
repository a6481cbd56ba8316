from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from structlog.testing import capture_logs

from aigw_common.channels import open_channel
from aigw_common.grpc_server import set_serving
from aigw_common.settings import AuthSettings, Settings
from rest_shim.app import build_app
from rest_shim.routes.monitoring import AUTH_BYPASS_WARNING
from tests.rest_shim.conftest import ROUTER_SERVICE, RunningRouter


@pytest.fixture
async def dead_channel() -> AsyncIterator[grpc.aio.Channel]:
    """A channel to a port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel = open_channel(f"127.0.0.1:{port}")
    yield channel
    await channel.close()


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shim")  # type: ignore[arg-type]


async def test_healthz_is_200_without_auth_or_router(
    settings: Settings, dead_channel: grpc.aio.Channel
) -> None:
    async with _client(build_app(settings, dead_channel)) as http:
        response = await http.get("/monitoring/healthz")

    assert response.status_code == 200
    assert response.json() == {}


async def test_ready_is_200_when_the_router_is_serving(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    response = await client.get("/monitoring/ready")

    assert response.status_code == 200
    assert "warning" not in response.json()


async def test_ready_is_503_when_the_router_is_not_serving(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    await set_serving(router.health, [ROUTER_SERVICE], False)

    response = await client.get("/monitoring/ready")

    assert response.status_code == 503
    assert "not serving" in response.json()["detail"]


async def test_ready_is_503_when_the_router_is_unreachable(
    settings: Settings, dead_channel: grpc.aio.Channel
) -> None:
    async with _client(build_app(settings, dead_channel)) as http:
        response = await http.get("/monitoring/ready")

    assert response.status_code == 503
    assert "UNAVAILABLE" in response.json()["detail"]


async def test_auth_bypass_is_loud_at_start_and_on_ready(
    settings: Settings, router_channel: grpc.aio.Channel, router: RunningRouter
) -> None:
    bypass = settings.model_copy(update={"auth": AuthSettings(bypass_external=True)})

    with capture_logs() as logs:
        app = build_app(bypass, router_channel)
    async with _client(app) as http:
        response = await http.get("/monitoring/ready")

    assert {"event": AUTH_BYPASS_WARNING, "log_level": "warning"}.items() <= logs[0].items()
    assert response.status_code == 200
    assert response.json()["warning"] == AUTH_BYPASS_WARNING
