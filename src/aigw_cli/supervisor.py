"""`aigw up`: every service as its own supervised process on this machine.

Children inherit the environment (so every `AIGW_*` setting applies to all of them), log to
`<data_dir>/logs/<service>.log`, and are restarted with backoff if they die. SIGINT or SIGTERM
stops them all: SIGTERM first (each drains its streams), SIGKILL for any still running after the
grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aigw_common.settings import Settings, TlsSettings
from aigw_common.tls import channel_credentials

_RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)
_STOP_GRACE_S = 15.0


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: list[str]
    address: str
    ready: Callable[[], Awaitable[bool]]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)


def suite_children(settings: Settings) -> list[Child]:
    """The five services, in the order they start."""
    python = sys.executable

    def grpc_child(name: str, address: str) -> Child:
        return Child(
            name, [python, "-m", name], address, lambda: grpc_serving(address, settings.tls)
        )

    shim_url = f"http://{settings.fastapi.api_host}:{settings.fastapi.api_port}"
    return [
        grpc_child("auth_svc", settings.auth_svc.address),
        grpc_child("config_svc", settings.config_svc.address),
        grpc_child("model_proxy_svc", settings.model_proxy.address),
        grpc_child("router_svc", settings.router.address),
        Child(
            "rest_shim",
            [python, "-m", "rest_shim"],
            shim_url,
            lambda: http_ok(f"{shim_url}/monitoring/ready"),
        ),
    ]


async def grpc_serving(address: str, tls: TlsSettings | None = None) -> bool:
    """True when the gRPC server at `address` reports SERVING for ""."""
    credentials = channel_credentials(tls)
    channel_at = (
        grpc.aio.secure_channel(address, credentials)
        if credentials is not None
        else grpc.aio.insecure_channel(address)
    )
    async with channel_at as channel:
        try:
            # grpc's health stubs are typed for sync channels only.
            stub: Any = health_pb2_grpc.HealthStub(channel)
            response = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        except grpc.aio.AioRpcError:
            return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


async def http_ok(url: str) -> bool:
    async with httpx.AsyncClient(timeout=1.0) as client:
        try:
            return (await client.get(url)).status_code == 200
        except httpx.HTTPError:
            return False


class Supervisor:
    """Starts children, restarts the ones that die, stops them all on request."""

    def __init__(self, children: Sequence[Child], log_dir: Path, state_file: Path) -> None:
        self.children = list(children)
        self._log_dir = log_dir
        self._state_file = state_file
        self._stopping = False
        self._watchers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        for child in self.children:
            await self._spawn(child)
            self._watchers.append(asyncio.create_task(self._watch(child)))

    async def wait_ready(self, timeout_s: float) -> list[str]:
        """Wait until every child is ready; return the names of those that are not."""
        deadline = time.monotonic() + timeout_s
        pending = list(self.children)
        while pending and time.monotonic() < deadline:
            pending = [child for child in pending if not await child.ready()]
            if pending:
                await asyncio.sleep(0.1)
        return [child.name for child in pending]

    async def stop(self) -> None:
        self._stopping = True
        for task in self._watchers:
            task.cancel()
        running = [c.process for c in self.children if c.process and c.process.returncode is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                await asyncio.wait_for(process.wait(), timeout=_STOP_GRACE_S)
            except TimeoutError:
                process.kill()
                await process.wait()
        with contextlib.suppress(FileNotFoundError):
            self._state_file.unlink()

    async def _spawn(self, child: Child) -> None:
        log_file = self._log_dir / f"{child.name}.log"
        env = {**os.environ, "AIGW_LOGGING__TO_FILE": str(log_file)}
        child.process = await asyncio.create_subprocess_exec(
            *child.argv, env=env, stdin=asyncio.subprocess.DEVNULL, start_new_session=True
        )
        child.started_at = time.monotonic()
        self._write_state()

    async def _watch(self, child: Child) -> None:
        while not self._stopping:
            assert child.process is not None
            code = await child.process.wait()
            if self._stopping:
                return
            # A child that ran for a while before dying starts its backoff afresh.
            if time.monotonic() - child.started_at > 30:
                child.restarts = 0
            delay = _RESTART_BACKOFF_S[min(child.restarts, len(_RESTART_BACKOFF_S) - 1)]
            print(
                f"aigw: {child.name} exited with code {code}; restarting in {delay:g} s "
                f"(log: {self._log_dir / (child.name + '.log')})",
                file=sys.stderr,
            )
            await asyncio.sleep(delay)
            child.restarts += 1
            await self._spawn(child)

    def _write_state(self) -> None:
        state = {
            child.name: {"pid": child.process.pid, "address": child.address}
            for child in self.children
            if child.process is not None
        }
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        self._state_file.write_text(json.dumps(state, indent=2))


async def run_until_signalled(supervisor: Supervisor) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("aigw: stopping...", file=sys.stderr)
    await supervisor.stop()
