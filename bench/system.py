"""The system under test: one `aigw up --demo` plus simulator backends, each a model of its own.

Every backend is an `aigw simulator` process with a fixed pace. The benchmark points the
`code_completions` feature at one backend at a time (`Bench.use`), and times how long that
switch takes to reach the router.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import httpx

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2, config_service_pb2_grpc
from aigw.router.v1 import router_service_pb2, router_service_pb2_grpc
from aigw_cli import admin
from aigw_cli.local_suite import LocalSuite, free_ports, local_suite
from aigw_common import scopes
from aigw_common.settings import Settings

if TYPE_CHECKING:
    from aigw.config.v1.config_service_pb2_grpc import ConfigServiceAsyncStub
    from aigw.router.v1.router_service_pb2_grpc import RouterServiceAsyncStub

FEATURE = "code_completions"
SERVICES = ("rest_shim", "router_svc", "model_proxy_svc", "config_svc", "auth_svc")
ABOVE = "def fibonacci(n):\n    "


@dataclass(frozen=True)
class BackendSpec:
    """How one simulator talks: tokens per answer, speed (0 = as fast as it can), first token."""

    name: str
    tokens: int
    tokens_per_second: float
    first_token_delay_ms: float
    # Recorded answers to stream for the prompts they answer (the simulator's --answers).
    answers: Path | None = None


@dataclass
class Backend:
    spec: BackendSpec
    port: int
    process: asyncio.subprocess.Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def model(self) -> str:
        return f"bench-{self.spec.name}"


async def _start_backend(spec: BackendSpec, port: int) -> Backend:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aigw_cli",
        "simulator",
        "--port",
        str(port),
        "--tokens",
        str(spec.tokens),
        "--tokens-per-second",
        str(spec.tokens_per_second),
        "--first-token-delay-ms",
        str(spec.first_token_delay_ms),
        *(["--answers", str(spec.answers)] if spec.answers else []),
        stderr=asyncio.subprocess.DEVNULL,
    )
    backend = Backend(spec, port, process)
    async with httpx.AsyncClient(timeout=1) as client:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{backend.url}/health")).status_code == 200:
                    return backend
            await asyncio.sleep(0.05)
    raise RuntimeError(f"simulator {spec.name} did not start")


@dataclass
class Bench:
    suite: LocalSuite
    backends: dict[str, Backend]
    settings: Settings
    token: str
    # What aigw's own services send model_proxy_svc, for the path that calls it directly.
    service_token: str
    config: ConfigServiceAsyncStub
    router: RouterServiceAsyncStub
    current: str = ""

    @property
    def router_address(self) -> str:
        return self.suite.address("router_svc")

    @property
    def rest_port(self) -> int:
        return int(self.suite.rest_url.rsplit(":", 1)[1])

    def pids(self) -> dict[str, int]:
        state = json.loads((self.suite.data_dir / "run" / "suite.json").read_text())
        return {name: int(state[name]["pid"]) for name in SERVICES}

    async def use(self, backend: str) -> float:
        """Point the feature at `backend`; the seconds until the router served from it."""
        model = self.backends[backend].model
        # A fresh admin token each time: a run outlasts one (they live 5 minutes).
        admin_metadata = tuple(await admin.admin_metadata(self.settings))
        started = time.perf_counter()
        await self.config.SetFeatureSetting(
            config_service_pb2.SetFeatureSettingRequest(
                feature_setting=config_service_pb2.FeatureSetting(feature=FEATURE, models=[model])
            ),
            metadata=admin_metadata,
            timeout=10,
        )
        request = router_service_pb2.StreamCompleteRequest(
            completion=router_service_pb2.Completion(
                feature=FEATURE, code=router_service_pb2.CodeContext(content_above_cursor=ABOVE)
            )
        )
        metadata = (("authorization", f"Bearer {self.token}"),)
        while time.perf_counter() - started < 30:
            call = self.router.StreamComplete(request, metadata=metadata, timeout=10)
            first = await call.read()
            call.cancel()
            if isinstance(first, router_service_pb2.StreamCompleteResponse) and (
                first.served_by.model == model
            ):
                self.current = backend
                return time.perf_counter() - started
            await asyncio.sleep(0.002)
        raise RuntimeError(f"the router never served {model}")


def raise_open_files_limit() -> None:
    """Thousands of streams need as many sockets in every process (children inherit this)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@contextlib.asynccontextmanager
async def running_bench(data_dir: Path, specs: list[BackendSpec]) -> AsyncIterator[Bench]:
    """The suite and the backends, each backend defined as a model; stopped on exit."""
    raise_open_files_limit()
    backends: dict[str, Backend] = {}
    try:
        for spec, port in zip(specs, free_ports(len(specs)), strict=True):
            backends[spec.name] = await _start_backend(spec, port)
        # 2,000 streams to one model server need as many connections from the proxy (HTTP/1.1
        # carries one stream per connection); the default pool (256) would queue the rest.
        env = {"AIGW_MODEL_PROXY__MAX_CONNECTIONS_PER_ENDPOINT": "4096"}
        async with local_suite(data_dir, env=env) as suite:
            # The admin commands read the suite's addresses from the environment.
            os.environ.update(suite.env)
            settings = Settings()
            for backend in backends.values():
                await admin.create_model(settings, _model(backend), api_key="")
            async with (
                grpc.aio.insecure_channel(suite.address("config_svc")) as config_channel,
                grpc.aio.insecure_channel(suite.address("router_svc")) as router_channel,
            ):
                yield Bench(
                    suite=suite,
                    backends=backends,
                    settings=settings,
                    token=suite.demo_token(),
                    service_token=(
                        await admin.issue_token(settings, "bench", [scopes.SERVICE], 3600)
                    ).token,
                    config=config_service_pb2_grpc.ConfigServiceStub(config_channel),
                    router=router_service_pb2_grpc.RouterServiceStub(router_channel),
                )
    finally:
        for backend in backends.values():
            if backend.process.returncode is None:
                backend.process.terminate()
                await backend.process.wait()


def model_target(backend: Backend) -> common_pb2.ModelTarget:
    return common_pb2.ModelTarget(
        name=backend.model,
        family="codestral",
        platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE,
        endpoint=f"{backend.url}/v1",
        identifier="aigw-simulator",
    )


def _model(backend: Backend) -> config_service_pb2.Model:
    return config_service_pb2.Model(
        name=backend.model, family="codestral", target=model_target(backend)
    )


def rss_kib(pid: int) -> tuple[int, int]:
    """(current, peak) resident set size of `pid` in KiB, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
