"""Run `aigw up --demo` on free ports in a child process: for end-to-end tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

GRPC_SERVICES = ("router_svc", "auth_svc", "config_svc", "model_proxy_svc")
# Each gRPC service's key under AIGW_METRICS__<KEY>_PORT, in GRPC_SERVICES' order.
METRICS_KEYS = ("router", "auth_svc", "config_svc", "model_proxy")


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now (all held open together, so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class LocalSuite:
    """A running suite: where each part listens, and the output `aigw up` printed."""

    env: dict[str, str]
    data_dir: Path
    grpc_ports: dict[str, int]
    metrics_ports: dict[str, int]
    rest_url: str
    simulator_url: str
    process: asyncio.subprocess.Process
    output: list[str]

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.grpc_ports[service]}"

    def demo_token(self) -> str:
        """The development token in the curl line `aigw up --demo` printed."""
        line = next(line for line in self.output if "Authorization: Bearer " in line)
        return line.split("Authorization: Bearer ")[1].split("'")[0]

    async def aigw(self, *args: str) -> str:
        """Run another `aigw` command against this suite and return what it printed."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "aigw_cli",
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
        if process.returncode != 0:
            raise RuntimeError(f"aigw {' '.join(args)} failed: {stderr.decode()}")
        return stdout.decode()

    def pid_of(self, service: str) -> int:
        state = json.loads((self.data_dir / "run" / "suite.json").read_text())
        return int(state[service]["pid"])


@contextlib.asynccontextmanager
async def local_suite(
    data_dir: Path, *, env: Mapping[str, str] | None = None, ready_timeout_s: float = 90.0
) -> AsyncIterator[LocalSuite]:
    """Start `aigw up --demo` with its state in `data_dir`; stop it (SIGTERM) on exit."""
    ports = free_ports(11)
    grpc_ports = dict(zip(GRPC_SERVICES, ports[:4], strict=True))
    child_env = {
        **os.environ,
        **(env or {}),
        "AIGW_DATA_DIR": str(data_dir),
        "AIGW_ROUTER__PORT": str(grpc_ports["router_svc"]),
        "AIGW_AUTH_SVC__PORT": str(grpc_ports["auth_svc"]),
        "AIGW_CONFIG_SVC__PORT": str(grpc_ports["config_svc"]),
        "AIGW_MODEL_PROXY__PORT": str(grpc_ports["model_proxy_svc"]),
        "AIGW_FASTAPI__API_PORT": str(ports[4]),
        "AIGW_FASTAPI__METRICS_PORT": str(ports[5]),
        **{
            f"AIGW_METRICS__{service.upper()}_PORT": str(port)
            for service, port in zip(METRICS_KEYS, ports[7:], strict=True)
        },
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aigw_cli",
        "up",
        "--demo",
        "--simulator-port",
        str(ports[6]),
        env=child_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output: list[str] = []
    drain: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(ready_timeout_s):
            while not any("Press Ctrl-C" in line for line in output):
                line = await process.stdout.readline()
                if not line:
                    raise RuntimeError("aigw up exited early:\n" + "".join(output))
                output.append(line.decode())
        drain = asyncio.create_task(_collect(process.stdout, output))
        yield LocalSuite(
            env=child_env,
            data_dir=data_dir,
            grpc_ports=grpc_ports,
            metrics_ports={
                "rest_shim": ports[5],
                **dict(zip(GRPC_SERVICES, ports[7:], strict=True)),
            },
            rest_url=f"http://127.0.0.1:{ports[4]}",
            simulator_url=f"http://127.0.0.1:{ports[6]}",
            process=process,
            output=output,
        )
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        if drain is not None:
            drain.cancel()


async def _collect(stream: asyncio.StreamReader, output: list[str]) -> None:
    while line := await stream.readline():
        output.append(line.decode())
