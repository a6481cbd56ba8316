"""The model proxy's HTTP client and SSE parsing, side by side with alternatives.

    python -m bench.http_clients [--requests 1500] [--concurrency 32] [--rounds 2]

Starts one simulator (16 tokens, as fast as it can) and, from this one process, streams short
completions from it with each client in turn, round after round: httpx + httpx-sse (what
model_proxy_svc uses), httpx reading the lines itself (httpx-sse's share), httpx with a small
pool (the pool scan's share) and aiohttp (a compiled HTTP parser). Prints this process's CPU
per completion for each, which is what the proxy would spend in its client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
from httpx_sse import aconnect_sse

from aigw_cli.local_suite import free_ports

_BODY = {
    "model": "aigw-simulator",
    "prompt": "def fibonacci(n):\n    ",
    "max_tokens": 16,
    "stream": True,
    "stream_options": {"include_usage": True},
}
_POOL = 4096  # what the benchmark gives the proxy (AIGW_MODEL_PROXY__MAX_CONNECTIONS_...)

One = Callable[[], Awaitable[None]]


async def _drive(one: One, requests: int, concurrency: int) -> tuple[float, float]:
    """(CPU ms per completion, completions per second) for `requests` calls of `one`."""
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one()

    await one()  # a warm connection
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - cpu) / requests * 1000, requests / (time.perf_counter() - wall)


def _httpx(pool: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    return httpx.AsyncClient(limits=limits, trust_env=False, timeout=30)


async def httpx_sse(url: str, requests: int, concurrency: int) -> tuple[float, float]:
    async with _httpx(_POOL) as client:

        async def one() -> None:
            async with aconnect_sse(client, "POST", url, json=_BODY) as source:
                async for event in source.aiter_sse():
                    if event.data != "[DONE]":
                        json.loads(event.data)

        return await _drive(one, requests, concurrency)


async def httpx_lines(url: str, requests: int, concurrency: int, pool: int) -> tuple[float, float]:
    async with _httpx(pool) as client:

        async def one() -> None:
            async with client.stream("POST", url, json=_BODY) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: {"):
                        json.loads(line[6:])

        return await _drive(one, requests, concurrency)


async def aiohttp_lines(url: str, requests: int, concurrency: int) -> tuple[float, float]:
    connector = aiohttp.TCPConnector(limit=_POOL)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with session.post(url, json=_BODY) as response:
                async for line in response.content:
                    if line.startswith(b"data: {"):
                        json.loads(line[6:])

        return await _drive(one, requests, concurrency)


async def run(requests: int, concurrency: int, rounds: int) -> None:
    port = free_ports(1)[0]
    simulator = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "aigw_cli", "simulator", "--port", str(port), "--tokens", "16"),
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1/completions"
    try:
        async with httpx.AsyncClient(timeout=1) as probe:
            for _ in range(200):
                try:
                    if (await probe.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        clients: list[tuple[str, Callable[[], Awaitable[tuple[float, float]]]]] = [
            ("httpx + httpx-sse", lambda: httpx_sse(url, requests, concurrency)),
            ("httpx, lines", lambda: httpx_lines(url, requests, concurrency, _POOL)),
            ("httpx, lines, pool 64", lambda: httpx_lines(url, requests, concurrency, 64)),
            ("aiohttp, lines", lambda: aiohttp_lines(url, requests, concurrency)),
        ]
        print("| round | client | CPU ms per completion | completions/s |")
        print("|---|---|---|---|")
        for number in range(1, rounds + 1):
            for name, measure in clients:
                cpu_ms, per_s = await measure()
                print(f"| {number} | {name} | {cpu_ms:.2f} | {per_s:,.0f} |", flush=True)
    finally:
        simulator.terminate()
        await simulator.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.concurrency, args.rounds))


if __name__ == "__main__":
    main()
