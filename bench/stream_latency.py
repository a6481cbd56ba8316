"""Latency of one streamed completion: direct to the simulator, through the REST shim, and
through the router over gRPC, measured side by side in one run against one `aigw up --demo`.

    python -m bench.stream_latency [--requests 200] [--out bench/results]

Reports time to first chunk and to the last chunk (p50/p99) per path, and what aigw adds over
the direct call. Paths are interleaved request by request so machine noise hits them alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import httpx

from aigw.router.v1 import router_service_pb2, router_service_pb2_grpc
from aigw_cli.local_suite import local_suite

_ABOVE = "def fibonacci(n):\n    "
_Measure = Callable[[], Awaitable[tuple[float, float]]]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _timed_http(client: httpx.AsyncClient, url: str, **kwargs: object) -> tuple[float, float]:
    started = time.perf_counter()
    first = 0.0
    async with client.stream("POST", url, **kwargs) as response:  # type: ignore[arg-type]
        response.raise_for_status()
        async for _ in response.aiter_raw():
            if not first:
                first = time.perf_counter() - started
    return first, time.perf_counter() - started


async def run(requests: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as data_dir:
        async with local_suite(Path(data_dir)) as suite:
            token = suite.demo_token()
            headers = {"Authorization": f"Bearer {token}"}
            body = {
                "current_file": {
                    "file_name": "fib.py",
                    "content_above_cursor": _ABOVE,
                    "content_below_cursor": "",
                },
                "stream": True,
            }
            request = router_service_pb2.StreamCompleteRequest(
                completion=router_service_pb2.Completion(
                    feature="code_completions",
                    code=router_service_pb2.CodeContext(
                        file_name="fib.py", content_above_cursor=_ABOVE
                    ),
                )
            )
            async with (
                httpx.AsyncClient(timeout=30) as client,
                grpc.aio.insecure_channel(suite.address("router_svc")) as channel,
            ):
                router = router_service_pb2_grpc.RouterServiceStub(channel)

                async def direct() -> tuple[float, float]:
                    return await _timed_http(
                        client,
                        f"{suite.simulator_url}/v1/completions",
                        json={
                            "model": "aigw-simulator",
                            "prompt": f"[SUFFIX][PREFIX]{_ABOVE}",
                            "max_tokens": 64,
                            "stream": True,
                            "stream_options": {"include_usage": True},
                        },
                    )

                async def rest() -> tuple[float, float]:
                    return await _timed_http(
                        client, f"{suite.rest_url}/v2/code/completions", json=body, headers=headers
                    )

                async def grpc_router() -> tuple[float, float]:
                    started = time.perf_counter()
                    first = 0.0
                    async for _ in router.StreamComplete(
                        request, metadata=[("authorization", f"Bearer {token}")], timeout=30
                    ):
                        if not first:
                            first = time.perf_counter() - started
                    return first, time.perf_counter() - started

                paths: dict[str, _Measure] = {
                    "direct": direct,
                    "rest": rest,
                    "grpc": grpc_router,
                }
                for measure in paths.values():  # warm up connections and caches
                    for _ in range(20):
                        await measure()
                samples: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
                for _ in range(requests):
                    for name, measure in paths.items():
                        samples[name].append(await measure())
    return _summarize(samples)


def _summarize(samples: dict[str, list[tuple[float, float]]]) -> dict[str, object]:
    rows: dict[str, dict[str, float]] = {}
    for name, values in samples.items():
        firsts = [first * 1000 for first, _ in values]
        totals = [total * 1000 for _, total in values]
        rows[name] = {
            "ttft_p50_ms": statistics.median(firsts),
            "ttft_p99_ms": _percentile(firsts, 0.99),
            "total_p50_ms": statistics.median(totals),
            "total_p99_ms": _percentile(totals, 0.99),
        }
    direct = rows["direct"]
    for name in ("rest", "grpc"):
        rows[name]["added_ttft_p50_ms"] = rows[name]["ttft_p50_ms"] - direct["ttft_p50_ms"]
        rows[name]["added_ttft_p99_ms"] = rows[name]["ttft_p99_ms"] - direct["ttft_p99_ms"]
        rows[name]["total_p50_ratio"] = rows[name]["total_p50_ms"] / direct["total_p50_ms"]
    return {"requests_per_path": len(samples["direct"]), "paths": rows}


def _table(result: dict[str, object]) -> str:
    paths = result["paths"]
    assert isinstance(paths, dict)
    lines = [
        "| path | TTFT p50 ms | TTFT p99 ms | total p50 ms | total p99 ms "
        "| added TTFT p50 ms | total p50 vs direct |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in paths.items():
        lines.append(
            f"| {name} | {row['ttft_p50_ms']:.2f} | {row['ttft_p99_ms']:.2f} "
            f"| {row['total_p50_ms']:.2f} | {row['total_p99_ms']:.2f} "
            f"| {row.get('added_ttft_p50_ms', 0.0):.2f} | {row.get('total_p50_ratio', 1.0):.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    result = asyncio.run(run(args.requests))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stream_latency.json").write_text(json.dumps(result, indent=2))
    print(_table(result))


if __name__ == "__main__":
    main()
