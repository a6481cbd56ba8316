"""Property-based fuzzing of every route described in the shim's OpenAPI document (schemathesis
on hypothesis): whatever the body, headers or path, no answer is a 5xx and none hangs.

The shim runs under uvicorn in front of the real router, auth_svc, config_svc, model_proxy_svc
and the simulator, all on a background event loop (schemathesis' calls are blocking).
Authentication is bypassed so generated requests get past the token check into the routes' and
the router's own validation; custom models stay disabled, so no generated endpoint is ever
called.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from aigw_common.channels import open_channel
from aigw_common.settings import (
    AuthServiceSettings,
    AuthSettings,
    ConfigServiceSettings,
    FastApiSettings,
    ModelProxySettings,
    RouterSettings,
    Settings,
)
from aigw_simulator import BackgroundSimulator, SimulatorConfig
from rest_shim.app import build_app
from tests.auth_support import running_auth_svc
from tests.router_svc.conftest import running_stack

pytestmark = pytest.mark.timeout(300)

# Generous for a loaded 2-core machine, far below "hangs".
REQUEST_TIMEOUT_S = 20
MODEL_NAME = "fuzz-model"


def _settings(data_dir: Path) -> Settings:
    return Settings(
        environment="development",
        data_dir=data_dir,
        auth=AuthSettings(bypass_external=True),
        fastapi=FastApiSettings(docs_url="/docs", openapi_url="/openapi.json"),
        router=RouterSettings(port=0, grace_period_s=0.5),
        auth_svc=AuthServiceSettings(port=0, grace_period_s=0.5),
        config_svc=ConfigServiceSettings(port=0, grace_period_s=0.5),
        model_proxy=ModelProxySettings(port=0, grace_period_s=0.5),
    )


# The document the fuzzer works from is the one the shim serves when docs are enabled.
SCHEMA = schemathesis.openapi.from_dict(
    build_app(_settings(Path("unused")), router_channel=None).openapi()
)


class _BackgroundGateway:
    """The whole path on its own thread and event loop until `stop`."""

    def __init__(self, data_dir: Path, simulator: BackgroundSimulator) -> None:
        self._settings = _settings(data_dir)
        self._simulator = simulator
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._run, name="fuzz-gateway", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30) or self._failure is not None:
            raise RuntimeError("the fuzz gateway did not start") from self._failure

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self._sock.close()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported to the test thread by start()
            self._failure = error
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with (
            running_stack(self._settings, self._simulator) as stack,
            running_auth_svc(self._settings) as auth,
        ):
            await stack.add_model(MODEL_NAME, self._simulator.endpoint)
            for feature in ("code_completions", "code_generations", "duo_chat"):
                await stack.assign(feature, MODEL_NAME)
            channel = open_channel(f"127.0.0.1:{stack.router_port}")
            auth_channel = open_channel(auth.settings.auth_svc.address)
            config = uvicorn.Config(
                build_app(self._settings, channel, auth_channel),
                lifespan="off",
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=1,
            )
            server = uvicorn.Server(config)
            task = asyncio.create_task(server.serve(sockets=[self._sock]))
            while not server.started:  # noqa: ASYNC110 - uvicorn signals nothing else
                await asyncio.sleep(0.01)
            self._ready.set()
            await self._stop.wait()
            server.should_exit = True
            await task
            await channel.close()
            await auth_channel.close()


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with BackgroundSimulator(SimulatorConfig(tokens=4)) as simulator:
        gateway = _BackgroundGateway(tmp_path_factory.mktemp("fuzz"), simulator)
        gateway.start()
        try:
            yield gateway.url
        finally:
            gateway.stop()


def test_every_route_is_described(gateway_url: str) -> None:
    document = httpx.get(f"{gateway_url}/openapi.json", timeout=REQUEST_TIMEOUT_S).json()

    assert {
        "/v2/code/completions",
        "/v2/completions",
        "/v2/code/generations",
        "/v1/chat/{chat_invokable}",
        "/v1/prompts/{prompt_id}",
        "/v2/chat/agent",
        "/v3/code/completions",
        "/v4/code/suggestions",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/models",
        "/v1/code/user_access_token",
        "/monitoring/healthz",
        "/monitoring/ready",
    } <= set(document["paths"])


@SCHEMA.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_route_answers_5xx_or_hangs(case: schemathesis.Case[Any], gateway_url: str) -> None:
    response = case.call(base_url=gateway_url, timeout=REQUEST_TIMEOUT_S)

    case.validate_response(response, checks=[not_a_server_error])
