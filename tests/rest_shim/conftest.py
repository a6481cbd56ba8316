"""The REST shim's test rig: a wire-level double of the router and the shim in front of it.

The double is a real grpc.aio server implementing RouterService on port 0, built with the shared
server factory so domain errors it raises reach the shim as the real router's would.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import grpc
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from grpc_health.v1 import health

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2, router_service_pb2_grpc
from aigw_common.channels import open_channel
from aigw_common.errors import AigwError
from aigw_common.grpc_server import add_standard_services, bind, create_server, set_serving
from aigw_common.settings import Settings
from rest_shim.app import build_app
from tests.router_svc import conftest as router_fixtures

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context
    from tests.router_svc.conftest import Stack

ROUTER_SERVICE = router_service_pb2.DESCRIPTOR.services_by_name["RouterService"].full_name
SERVED_BY = router_service_pb2.ServedBy(
    model="codestral-22b", family="codestral", platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE
)
USAGE = common_pb2.TokenUsage(input_tokens=12, output_tokens=7)
AUTH_HEADERS = {
    "Authorization": "Bearer test-token",
    "X-Gitlab-Authentication-Type": "oidc",
    "X-Gitlab-Realm": "self-managed",
    "X-Gitlab-Instance-Id": "instance-1",
}


def completion_body(**overrides: Any) -> dict[str, Any]:
    """A minimal valid /v2/code/completions body."""
    body: dict[str, Any] = {
        "current_file": {
            "file_name": "src/add.py",
            "content_above_cursor": "def add(a, b):\n",
            "content_below_cursor": "\n",
        }
    }
    body.update(overrides)
    return body


class RouterDouble(router_service_pb2_grpc.RouterServiceServicer):
    """Answers like the router; records what it received; can fail, stream slowly, and notices
    when the caller cancels."""

    def __init__(self) -> None:
        self.completions: list[router_service_pb2.Completion] = []
        self.agent_requests: list[router_service_pb2.StreamAgentRequest] = []
        # StreamAgent's events; by default `chunks` as final answer deltas, then usage.
        self.agent_events: list[router_service_pb2.StreamAgentResponse] | None = None
        self.metadata: list[dict[str, str]] = []
        # The time each call had left when it arrived (None: no deadline).
        self.remaining_s: list[float | None] = []
        self.text = "    return a + b\n"
        self.chunks = ["    return", " a + b", "\n"]
        self.chunk_delay_s = 0.0
        self.error: Exception | None = None
        # Stream only: raise `error` after this many text chunks (None: before any).
        self.error_after_chunks: int | None = None
        self.cancelled = asyncio.Event()
        self.models = [
            router_service_pb2.AddressableModel(
                name="codestral-22b", family="codestral", features=["code_completions"]
            )
        ]

    def _record(self, completion: router_service_pb2.Completion, context: Context) -> None:
        self.completions.append(completion)
        self.remaining_s.append(context.time_remaining())
        self.metadata.append(
            {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        )

    async def Complete(
        self, request: router_service_pb2.CompleteRequest, context: Context
    ) -> router_service_pb2.CompleteResponse:
        self._record(request.completion, context)
        if self.error is not None:
            raise self.error
        return router_service_pb2.CompleteResponse(
            text=self.text,
            finish_reason=common_pb2.FINISH_REASON_STOP,
            usage=USAGE,
            served_by=SERVED_BY,
        )

    async def StreamComplete(
        self, request: router_service_pb2.StreamCompleteRequest, context: Context
    ) -> AsyncIterator[router_service_pb2.StreamCompleteResponse]:
        self._record(request.completion, context)
        try:
            yield router_service_pb2.StreamCompleteResponse(served_by=SERVED_BY)
            for index, text in enumerate(self.chunks):
                if self.error is not None and index == (self.error_after_chunks or 0):
                    raise self.error
                if self.chunk_delay_s:
                    await asyncio.sleep(self.chunk_delay_s)
                yield router_service_pb2.StreamCompleteResponse(text=text)
            yield router_service_pb2.StreamCompleteResponse(
                finish_reason=common_pb2.FINISH_REASON_STOP, usage=USAGE
            )
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    async def StreamAgent(
        self, request: router_service_pb2.StreamAgentRequest, context: Context
    ) -> AsyncIterator[router_service_pb2.StreamAgentResponse]:
        self.agent_requests.append(request)
        self.metadata.append(
            {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        )
        events = self.agent_events
        if events is None:
            events = [
                router_service_pb2.StreamAgentResponse(
                    final_answer_delta=router_service_pb2.AgentFinalAnswerDelta(text=text)
                )
                for text in self.chunks
            ]
            events.append(router_service_pb2.StreamAgentResponse(usage=USAGE))
            events[0].served_by.CopyFrom(SERVED_BY)
        try:
            for index, event in enumerate(events):
                if self.error is not None and index == (self.error_after_chunks or 0):
                    raise self.error
                if self.chunk_delay_s:
                    await asyncio.sleep(self.chunk_delay_s)
                yield event
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    async def ListModels(
        self, request: router_service_pb2.ListModelsRequest, context: Context
    ) -> router_service_pb2.ListModelsResponse:
        self.metadata.append(
            {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        )
        if self.error is not None:
            raise self.error
        return router_service_pb2.ListModelsResponse(models=self.models)


@dataclass
class RunningRouter:
    servicer: RouterDouble
    health: health.aio.HealthServicer
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def fail_with(self, error: AigwError | Exception, after_chunks: int | None = None) -> None:
        self.servicer.error = error
        self.servicer.error_after_chunks = after_chunks


@pytest.fixture
async def router(settings: Settings) -> AsyncIterator[RunningRouter]:
    servicer = RouterDouble()
    health_servicer = health.aio.HealthServicer()
    server = create_server(settings.router, domain="router.test")
    router_service_pb2_grpc.add_RouterServiceServicer_to_server(servicer, server)
    await add_standard_services(server, health_servicer, [ROUTER_SERVICE], reflection_enabled=False)
    port = bind(server, settings.router)
    await server.start()
    await set_serving(health_servicer, [ROUTER_SERVICE], True)
    yield RunningRouter(servicer, health_servicer, port)
    await server.stop(None)


@pytest.fixture
async def router_channel(router: RunningRouter) -> AsyncIterator[grpc.aio.Channel]:
    channel = open_channel(router.address)
    yield channel
    await channel.close()


@pytest.fixture
def app(settings: Settings, router_channel: grpc.aio.Channel) -> FastAPI:
    return build_app(settings, router_channel)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://shim"
    ) as http:
        yield http


@asynccontextmanager
async def served(app: FastAPI, *, lifespan: Literal["on", "off"] = "off") -> AsyncIterator[str]:
    """`app` served by a real uvicorn on a free localhost port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan=lifespan, log_config=None, access_log=False, timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def shim_url(app: FastAPI) -> AsyncIterator[str]:
    """The shim behind a real uvicorn (ASGITransport buffers streams and never disconnects)."""
    async with served(app) as url:
        yield url


# The shim in front of the real router, config_svc, model_proxy_svc and the simulator.
simulator = router_fixtures.simulator
stack = router_fixtures.stack


@dataclass
class Gateway:
    """The shim served by uvicorn in front of a real in-process stack."""

    url: str
    http: httpx.AsyncClient
    stack: Stack

    def headers(self, *scopes: str) -> dict[str, str]:
        """What a GitLab instance sends, with a token granting `scopes`."""
        return {
            "Authorization": f"Bearer {self.stack.token(*scopes)}",
            "X-Gitlab-Authentication-Type": "oidc",
            "X-Gitlab-Realm": "self-managed",
            "X-Gitlab-Instance-Id": "ea8bf810-1d6f-4a6a-b4fd-93e8cbd8b57f",
            "X-Gitlab-Global-User-Id": "Df0Jhs9xlbetQR8YoZCKDZJflhxO0ZBI8uoRzmpnd1w=",
            "X-Gitlab-Host-Name": "gitlab.example.com",
            "X-Gitlab-Version": "17.6.0",
            "X-Request-ID": "01JD2ZQ3V4K6G0Y4M7X2T9N8P5",
        }

    def records(self) -> list[dict[str, Any]]:
        return router_fixtures.generations(self.stack.simulator)


@pytest.fixture
async def gateway(settings: Settings, stack: Stack) -> AsyncIterator[Gateway]:
    channel = open_channel(f"127.0.0.1:{stack.router_port}")
    app = build_app(settings, channel)
    try:
        async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
            yield Gateway(url=url, http=http, stack=stack)
    finally:
        await channel.close()
