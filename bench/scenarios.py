"""The figures: each one a function of the running bench that returns a JSON-ready dict.

Every comparison is made within one run: paths take turns (round by round) so that the noise of
a shared machine falls on all of them alike, and aigw's figures are reported as the difference
from (or ratio to) the direct path.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench.loadgen import LoadGenerator
from bench.paths import Load, Paths
from bench.system import Bench, cpu_s, rss_kib

PATHS = ("direct", "rest", "grpc")
# TTFT also measures the model proxy alone: what each hop adds.
TTFT_PATHS = ("direct", "proxy", "grpc", "rest")


@dataclass(frozen=True)
class Sizes:
    """How many requests each figure sends (`quick` for a smoke run)."""

    ttft_rounds: int = 5
    # Requests per path and round, by concurrency: with the zero-delay backend, and with the
    # realistic one (whose every request lasts ~150 ms).
    ttft_per_round: dict[int, int] | None = None
    ttft_per_round_paced: dict[int, int] | None = None
    throughput_s: float = 10.0
    long_tokens: int = 20_000
    many_streams: int = 64
    many_tokens: int = 2_000
    disconnects: int = 100
    switches: int = 10
    # Each recorded completion, on each GitLab route and direct, this many times.
    visible_rounds: int = 5
    slow_streams: int = 2_000
    soak_s: float = 30.0

    def per_round(self, concurrency: int, *, paced: bool = False) -> int:
        if paced:
            table = self.ttft_per_round_paced or {1: 20, 32: 128, 256: 512}
        else:
            table = self.ttft_per_round or {1: 40, 32: 320, 256: 768}
        return table.get(concurrency, concurrency * 4)


QUICK = Sizes(
    ttft_rounds=1,
    ttft_per_round={1: 5, 32: 32, 256: 256},
    ttft_per_round_paced={1: 5, 32: 32, 256: 256},
    throughput_s=1.0,
    long_tokens=500,
    many_streams=4,
    many_tokens=100,
    disconnects=5,
    switches=2,
    visible_rounds=1,
    slow_streams=20,
    soak_s=3.0,
)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _ok(samples: list[list[Any]]) -> list[list[Any]]:
    return [s for s in samples if s[4] is None]


def _errors(samples: list[list[Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sample in samples:
        if sample[4] is not None:
            counts[sample[4]] = counts.get(sample[4], 0) + 1
    return counts


async def feature_switch(bench: Bench, sizes: Sizes, names: tuple[str, str]) -> dict[str, Any]:
    """Seconds from SetFeatureSetting sent to the router serving the new model."""
    samples = [await bench.use(names[i % 2]) for i in range(sizes.switches)]
    return {
        "switches": len(samples),
        "p50_ms": statistics.median(samples) * 1000,
        "max_ms": max(samples) * 1000,
    }


async def ttft(
    loadgen: LoadGenerator, paths: Paths, sizes: Sizes, concurrency: int, *, paced: bool
) -> dict[str, Any]:
    """Time to first token per path, and what aigw adds over the direct call."""
    samples: dict[str, list[list[Any]]] = {p: [] for p in TTFT_PATHS}
    cpu: dict[str, float] = dict.fromkeys(TTFT_PATHS, 0.0)
    wall: dict[str, float] = dict.fromkeys(TTFT_PATHS, 0.0)
    for name in TTFT_PATHS:  # warm connections (and the load generator's pool) at this concurrency
        await loadgen.run(paths.code_completion(name, Load(concurrency, concurrency)))
    for _ in range(sizes.ttft_rounds):
        for name in TTFT_PATHS:
            load = Load(concurrency, sizes.per_round(concurrency, paced=paced))
            result = await loadgen.run(paths.code_completion(name, load))
            samples[name] += result["samples"]
            cpu[name] += result["cpu_s"]
            wall[name] += result["wall_s"]
    rows: dict[str, Any] = {}
    for name in TTFT_PATHS:
        ok = _ok(samples[name])
        firsts = [s[1] * 1000 for s in ok]
        totals = [s[2] * 1000 for s in ok]
        rows[name] = {
            "requests": len(samples[name]),
            "errors": _errors(samples[name]),
            "ttft_p50_ms": percentile(firsts, 0.5),
            "ttft_p99_ms": percentile(firsts, 0.99),
            "total_p50_ms": percentile(totals, 0.5),
            "loadgen_cpu_pct": 100 * cpu[name] / wall[name] if wall[name] else 0.0,
        }
    direct = rows["direct"]
    for name in TTFT_PATHS[1:]:
        rows[name]["added_ttft_p50_ms"] = rows[name]["ttft_p50_ms"] - direct["ttft_p50_ms"]
        rows[name]["added_ttft_p99_ms"] = rows[name]["ttft_p99_ms"] - direct["ttft_p99_ms"]
    return {"concurrency": concurrency, "paths": rows}


async def throughput(
    bench: Bench, loadgen: LoadGenerator, paths: Paths, sizes: Sizes, concurrency: int = 32
) -> dict[str, Any]:
    """Short streamed completions per second with `concurrency` callers, and the CPU each
    process spent per completion."""
    pids = {**bench.pids(), "simulator": paths.backend_pid}
    rows: dict[str, Any] = {}
    for name in PATHS:
        before = {service: cpu_s(pid) for service, pid in pids.items()}
        result = await loadgen.run(
            paths.code_completion(name, Load(concurrency, duration_s=sizes.throughput_s))
        )
        spent = {service: cpu_s(pid) - before[service] for service, pid in pids.items()}
        done = len(_ok(result["samples"]))
        rows[name] = {
            "completions": done,
            "errors": _errors(result["samples"]),
            "per_s": done / result["wall_s"],
            "loadgen_cpu_pct": 100 * result["cpu_s"] / result["wall_s"],
            "cpu_ms_per_completion": {
                service: 1000 * seconds / max(done, 1)
                for service, seconds in {**spent, "loadgen": result["cpu_s"]}.items()
                if seconds > 0.005 * result["wall_s"]
            },
        }
    return {"concurrency": concurrency, "paths": rows}


async def relayed_tokens(
    loadgen: LoadGenerator, paths: Paths, streams: int, tokens: int
) -> dict[str, Any]:
    """Tokens per second arriving at the caller, for `streams` concurrent streams of `tokens`."""
    rows: dict[str, Any] = {}
    for name in PATHS:
        job = paths.text_completion(name, tokens, Load(streams, streams))
        runs = [await loadgen.run(job) for _ in range(3 if streams == 1 else 1)]
        best = max(runs, key=lambda r: -r["wall_s"])
        ok = len(_ok(best["samples"]))
        rows[name] = {
            "streams": streams,
            "tokens_per_stream": tokens,
            "errors": _errors(best["samples"]),
            "tokens_per_s": ok * tokens / best["wall_s"],
            "loadgen_cpu_pct": 100 * best["cpu_s"] / best["wall_s"],
        }
    direct = rows["direct"]["tokens_per_s"]
    for name in PATHS[1:]:
        rows[name]["vs_direct"] = rows[name]["tokens_per_s"] / direct if direct else 0.0
    return rows


async def disconnects(loadgen: LoadGenerator, paths: Paths, sizes: Sizes) -> dict[str, Any]:
    """From the caller closing its stream (after the first token) to the simulator seeing its
    upstream connection closed, matched by request id in the simulator's records."""
    rows: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        for name in ("rest", "grpc"):
            await client.delete(f"{paths.backend_url}/_simulator/requests")
            prefix = f"disconnect-{name}-{time.time_ns()}"
            load = Load(
                1,
                sizes.disconnects,
                mode="disconnect",
                disconnect_after_s=0.01,
                request_id_prefix=prefix,
            )
            result = await loadgen.run(paths.code_completion(name, load))
            closed = {
                f"{prefix}-{i}": s[5] for i, s in enumerate(result["samples"]) if s[5] and not s[4]
            }
            await asyncio.sleep(1.0)  # the last upstream close must reach the records
            records = (await client.get(f"{paths.backend_url}/_simulator/requests")).json()
            delays = [
                (r["ended_at"] - closed[r["request_id"]]) * 1000
                for r in records
                if r["request_id"] in closed and r["ended_at"] is not None and r["disconnected"]
            ]
            rows[name] = {
                "disconnects": len(closed),
                "upstream_closed": len(delays),
                "p50_ms": percentile(delays, 0.5),
                "p99_ms": percentile(delays, 0.99),
            }
    return rows


# New streams reach the model at ~100/s on the 2-core box: 2,000 are all open within ~30 s.
RAMP_ALLOWANCE_S = 30.0
# Each stream lasts this long (one token a second) before its caller opens the next: well
# inside the REST shim's 60 s limit, and a steady churn of streams opening and closing.
SLOW_STREAM_S = 40


async def slow_streams(
    bench: Bench, loadgen: LoadGenerator, paths: Paths, sizes: Sizes
) -> dict[str, Any]:
    """Resident memory of every service while `slow_streams` callers each keep a slow stream
    open (one token a second, a new stream as soon as one ends) for the ramp allowance plus
    `soak_s`; then every stream is closed."""
    pids = bench.pids()
    baseline = {service: rss_kib(pid)[0] for service, pid in pids.items()}
    timeline: list[tuple[float, dict[str, int]]] = []
    hold_s = RAMP_ALLOWANCE_S + sizes.soak_s
    load = Load(sizes.slow_streams, duration_s=hold_s, hold_s=hold_s)
    running = asyncio.create_task(loadgen.run(paths.text_completion("rest", SLOW_STREAM_S, load)))
    started = time.perf_counter()
    while not running.done():
        timeline.append(
            (time.perf_counter() - started, {s: rss_kib(pid)[0] for s, pid in pids.items()})
        )
        await asyncio.wait({running}, timeout=1.0)
    result = running.result()
    samples = sorted(result["samples"], key=lambda s: s[0])
    first_wave = [s for s in samples[: sizes.slow_streams] if s[4] is None]
    first_wall = samples[0][0] if samples else 0.0
    # When the last of the first streams got its first token: from then on all were open.
    ramp_s = max((s[0] + s[1] - first_wall for s in first_wave), default=0.0)
    plateau = [point for at, point in timeline if at >= ramp_s] or [baseline]
    peak = {service: max(point[service] for _, point in timeline) for service in pids}
    return {
        "streams": sizes.slow_streams,
        "streams_opened": len(samples),
        "ramp_s": ramp_s,
        "plateau_s": max(hold_s - ramp_s, 0.0),
        "errors": _errors(result["samples"]),
        "baseline_mib": {s: v / 1024 for s, v in baseline.items()},
        "peak_mib": {s: v / 1024 for s, v in peak.items()},
        "plateau_growth_mib": {s: (plateau[-1][s] - plateau[0][s]) / 1024 for s in pids},
        "suite_peak_mib": sum(peak.values()) / 1024,
        "timeline_total_mib": [round(sum(p.values()) / 1024, 1) for _, p in timeline],
    }
