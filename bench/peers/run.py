"""Peer gateways under the same backend and load: LiteLLM's proxy and Portkey's gateway, as
installed by bench/peers/install.sh into .bench-peers/ (never into aigw's environment).

Every path sends the same streamed chat completion (OpenAI's /v1/chat/completions) to the same
zero-delay simulator: direct, through aigw's OpenAI-compatible route, through each peer. A peer
that is not installed, or fails to start, is reported with the reason and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from aigw_cli.local_suite import free_ports
from bench.loadgen import LoadGenerator
from bench.paths import Load
from bench.scenarios import Sizes, percentile
from bench.system import ABOVE, FEATURE, Bench

PEERS_DIR = Path(os.environ.get("PEERS_DIR", Path(__file__).resolve().parents[2] / ".bench-peers"))
_MAX_TOKENS = 16
# LiteLLM refuses to start without a master key (callers must send it).
_LITELLM_KEY = "sk-bench-0123456789abcdef"
_START_TIMEOUT_S = 90


def _chat_body(model: str) -> str:
    return json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": ABOVE}],
            "max_tokens": _MAX_TOKENS,
            "stream": True,
        }
    )


def _job(port: int, model: str, headers: list[list[str]], load: Load) -> dict[str, Any]:
    return {
        "kind": "http",
        "host": "127.0.0.1",
        "port": port,
        "path": "/v1/chat/completions",
        "headers": [["content-type", "application/json"], *headers],
        "body": _chat_body(model),
        **load.fields(),
    }


@contextlib.asynccontextmanager
async def _process(argv: list[str], ready_url: str, log: Path) -> AsyncIterator[None]:
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=output, stderr=asyncio.subprocess.STDOUT, start_new_session=True
        )
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(_START_TIMEOUT_S * 5):
                if process.returncode is not None:
                    raise RuntimeError(f"exited with {process.returncode}: {_tail(log)}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(ready_url)).status_code < 500:
                        break
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError(f"not ready after {_START_TIMEOUT_S} s: {_tail(log)}")
        yield
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").strip().splitlines()
    return " / ".join(lines[-3:])[-300:]


def _litellm(backend_url: str, port: int, work: Path) -> tuple[list[str], str]:
    binary = PEERS_DIR / "litellm" / "bin" / "litellm"
    if not binary.exists():
        raise FileNotFoundError(f"{binary} is missing: run bench/peers/install.sh")
    config = work / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: aigw-simulator\n"
        "    litellm_params:\n"
        "      model: openai/aigw-simulator\n"
        f"      api_base: {backend_url}/v1\n"
        "      api_key: unused\n"
        "general_settings:\n"
        f"  master_key: {_LITELLM_KEY}\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
    )
    argv = [str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    return argv, f"http://127.0.0.1:{port}/health/liveliness"


def _portkey(port: int) -> tuple[list[str], str]:
    start = PEERS_DIR / "portkey" / "node_modules" / "@portkey-ai" / "gateway" / "build"
    script = start / "start-server.js"
    if not script.exists():
        raise FileNotFoundError(f"{script} is missing: run bench/peers/install.sh")
    return ["node", str(script), f"--port={port}", "--headless"], f"http://127.0.0.1:{port}/"


async def _measure(loadgen: LoadGenerator, job: dict[str, Any], sizes: Sizes) -> dict[str, Any]:
    one = await loadgen.run({**job, **Load(1, sizes.per_round(1)).fields()})
    await loadgen.run({**job, **Load(32, 32).fields()})  # open the connections
    many = await loadgen.run({**job, **Load(32, duration_s=sizes.throughput_s).fields()})
    firsts = [s[1] * 1000 for s in one["samples"] if s[4] is None]
    ok = [s for s in many["samples"] if s[4] is None]
    errors = len(many["samples"]) - len(ok) + len(one["samples"]) - len(firsts)
    if not firsts:
        first_error = one["samples"][0][4] if one["samples"] else "no samples"
        return {"note": f"not measured: every streamed request failed ({first_error})"}
    return {
        "ttft_p50_ms": percentile(firsts, 0.5),
        "ttft_p99_ms": percentile(firsts, 0.99),
        "per_s_c32": len(ok) / many["wall_s"],
        "errors": errors,
    }


async def run_peers(bench: Bench, loadgen: LoadGenerator, sizes: Sizes) -> dict[str, Any]:
    backend = bench.backends[bench.current]
    auth = [["authorization", f"Bearer {bench.token}"]]
    results: dict[str, Any] = {
        "direct": await _measure(loadgen, _job(backend.port, "aigw-simulator", [], Load(1)), sizes),
        "aigw (REST, OpenAI route)": await _measure(
            loadgen, _job(bench.rest_port, f"feature:{FEATURE}", auth, Load(1)), sizes
        ),
    }
    litellm_port, portkey_port = free_ports(2)
    with tempfile.TemporaryDirectory() as work:
        peers: dict[str, Callable[[], tuple[list[str], str]]] = {
            "LiteLLM proxy": lambda: _litellm(backend.url, litellm_port, Path(work)),
            "Portkey gateway": lambda: _portkey(portkey_port),
        }
        for name, prepare in peers.items():
            try:
                argv, ready = prepare()
                port = litellm_port if name.startswith("LiteLLM") else portkey_port
                headers = (
                    [["authorization", f"Bearer {_LITELLM_KEY}"]]
                    if name.startswith("LiteLLM")
                    else [
                        ["x-portkey-provider", "openai"],
                        ["x-portkey-custom-host", f"{backend.url}/v1"],
                        ["authorization", "Bearer unused"],
                    ]
                )
                log = Path(work) / f"{port}.log"
                async with _process(argv, ready, log):
                    results[name] = await _measure(
                        loadgen, _job(port, "aigw-simulator", headers, Load(1)), sizes
                    )
            except (OSError, RuntimeError) as error:
                results[name] = {"note": f"not measured: {error}"}
    direct = results["direct"]
    for row in results.values():
        if "ttft_p50_ms" in row:
            row["added_ttft_p50_ms"] = row["ttft_p50_ms"] - direct["ttft_p50_ms"]
            row["note"] = (
                f"TTFT c=1 p50 {row['ttft_p50_ms']:.2f} ms (+{row['added_ttft_p50_ms']:.2f}), "
                f"p99 {row['ttft_p99_ms']:.2f} ms; {row['per_s_c32']:.0f} completions/s at "
                f"c=32; errors {row['errors']}"
            )
    return results
