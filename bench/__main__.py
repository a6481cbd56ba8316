"""Benchmark aigw against direct calls to the same backend: `python -m bench` (or `make bench`).

    python -m bench [--quick] [--soak-s 30] [--slow-streams 2000] [--only ttft,tokens,...]
                    [--peers] [--out bench/results]

Starts `aigw up --demo` and simulator backends on free ports, runs every figure, prints a
markdown table and writes `<out>/latest.json` and `<out>/latest.md`. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import platform
import shutil
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import scenarios
from bench.loadgen import LoadGenerator
from bench.paths import Paths
from bench.report import markdown
from bench.system import BackendSpec, running_bench
from bench.visible import ANSWERS_FILE, first_visible_text

FIGURES = ("switch", "ttft", "visible", "throughput", "tokens", "disconnect", "soak", "peers")

# Pure overhead; a model at a realistic pace; long answers; slow streams that stay open.
ZERO = BackendSpec("zero-delay", tokens=16, tokens_per_second=0, first_token_delay_ms=0)
# A short answer at a realistic pace: first token after 50 ms, then 75 tokens/s (~150 ms).
REALISTIC = BackendSpec("realistic", tokens=8, tokens_per_second=75, first_token_delay_ms=50)
LONG = BackendSpec("long", tokens=1_000_000, tokens_per_second=0, first_token_delay_ms=0)
# Recorded code completions at a GPU-served code model's pace: first chunk after 80 ms, then
# one every 25 ms (40 tokens/s).
RECORDED = BackendSpec(
    "recorded", tokens=16, tokens_per_second=40, first_token_delay_ms=80, answers=ANSWERS_FILE
)
# Streams that stay open: one token a second, as long as the caller asks (max_tokens).
SLOW = BackendSpec("slow", tokens=1_000_000, tokens_per_second=1.0, first_token_delay_ms=50)


async def run(
    sizes: scenarios.Sizes,
    figures: set[str],
    concurrencies: list[int],
    partial: Path | None = None,
) -> Any:
    slow = SLOW
    result: dict[str, Any] = {"machine": _machine(), "sizes": dataclasses.asdict(sizes)}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as data_dir:
        async with running_bench(Path(data_dir), [ZERO, REALISTIC, RECORDED, LONG, slow]) as bench:
            loadgen = await LoadGenerator.start()
            try:
                if "switch" in figures:
                    _progress("feature switch", result, partial)
                    result["feature_switch"] = await scenarios.feature_switch(
                        bench, sizes, (ZERO.name, REALISTIC.name)
                    )
                if "ttft" in figures:
                    result["ttft"] = {}
                    for spec in (ZERO, REALISTIC):
                        await bench.use(spec.name)
                        paths = await Paths.learn(bench, bench.backends[spec.name])
                        runs = []
                        for concurrency in concurrencies:
                            _progress(f"TTFT {spec.name} c={concurrency}", result, partial)
                            runs.append(
                                await scenarios.ttft(
                                    loadgen, paths, sizes, concurrency, paced=spec is REALISTIC
                                )
                            )
                        result["ttft"][spec.name] = runs
                if "visible" in figures:
                    _progress("first visible text, recorded completions", result, partial)
                    await bench.use(RECORDED.name)
                    result["visible"] = await first_visible_text(
                        bench,
                        bench.backends[RECORDED.name],
                        rounds=sizes.visible_rounds,
                        chunk_s=1 / RECORDED.tokens_per_second,
                    )
                if "throughput" in figures:
                    _progress("throughput c=32", result, partial)
                    await bench.use(ZERO.name)
                    paths = await Paths.learn(bench, bench.backends[ZERO.name])
                    result["throughput"] = await scenarios.throughput(bench, loadgen, paths, sizes)
                if "tokens" in figures:
                    _progress("relayed tokens", result, partial)
                    await bench.use(LONG.name)
                    paths = await Paths.learn(bench, bench.backends[LONG.name])
                    result["tokens"] = {
                        "one": await scenarios.relayed_tokens(loadgen, paths, 1, sizes.long_tokens),
                        "many": await scenarios.relayed_tokens(
                            loadgen, paths, sizes.many_streams, sizes.many_tokens
                        ),
                    }
                if "disconnect" in figures:
                    # The slow backend: its streams are still running when the caller leaves.
                    _progress("disconnects", result, partial)
                    await bench.use(slow.name)
                    paths = await Paths.learn(bench, bench.backends[slow.name])
                    result["disconnect"] = await scenarios.disconnects(loadgen, paths, sizes)
                if "soak" in figures:
                    _progress(
                        f"{sizes.slow_streams} slow streams for {sizes.soak_s:g} s", result, partial
                    )
                    await bench.use(slow.name)
                    paths = await Paths.learn(bench, bench.backends[slow.name])
                    result["slow_streams"] = await scenarios.slow_streams(
                        bench, loadgen, paths, sizes
                    )
                if "peers" in figures:
                    from bench.peers.run import run_peers

                    _progress("peers", result, partial)
                    await bench.use(ZERO.name)
                    result["peers"] = await run_peers(bench, loadgen, sizes)
            finally:
                await loadgen.close()
                if partial is not None:  # the services' logs, to explain any error counted
                    logs = partial.parent / "logs"
                    shutil.rmtree(logs, ignore_errors=True)
                    shutil.copytree(Path(data_dir) / "logs", logs, dirs_exist_ok=True)
    result["elapsed_s"] = time.perf_counter() - started
    return result


def _progress(what: str, result: dict[str, Any] | None = None, partial: Path | None = None) -> None:
    print(f"bench: {what}...", file=sys.stderr, flush=True)
    if result is not None and partial is not None:
        # What was measured so far survives a run that fails later.
        partial.write_text(json.dumps(result, indent=2))


def _machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    versions = {}
    for package in ("grpcio", "protobuf", "uvicorn", "starlette", "fastapi", "httpx", "uvloop"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    import os

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "versions": versions,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks the harness")
    parser.add_argument("--soak-s", type=float, help="how long the slow streams run (30 s)")
    parser.add_argument("--slow-streams", type=int, help="concurrent slow streams (2000)")
    parser.add_argument("--only", help=f"comma-separated figures among {', '.join(FIGURES)}")
    parser.add_argument("--peers", action="store_true", help="also run LiteLLM and Portkey")
    parser.add_argument("--concurrency", default="1,32,256", help="TTFT concurrencies")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    sizes = scenarios.QUICK if args.quick else scenarios.Sizes()
    if args.soak_s is not None:
        sizes = dataclasses.replace(sizes, soak_s=args.soak_s)
    if args.slow_streams is not None:
        sizes = dataclasses.replace(sizes, slow_streams=args.slow_streams)
    figures = set(args.only.split(",")) if args.only else set(FIGURES) - {"peers"}
    if args.peers:
        figures.add("peers")
    if unknown := figures - set(FIGURES):
        parser.error(f"unknown figures: {', '.join(sorted(unknown))}")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(run(sizes, figures, concurrencies, args.out / "partial.json"))
    table = markdown(result)
    (args.out / "latest.json").write_text(json.dumps(result, indent=2))
    (args.out / "latest.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
