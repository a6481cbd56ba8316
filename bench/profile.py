"""Where the hot path spends its CPU: py-spy samples every service on the path under one load.

    python -m bench.profile [--load stream|short] [--seconds 10] [--out bench/results/profile]

`stream` relays long streams through the REST shim (per-chunk cost); `short` sends short
streamed code completions at c=32 (per-request cost). For each of rest_shim, router_svc and
model_proxy_svc it writes py-spy's collapsed stacks (`<service>.txt`, for flame graph tools)
and prints the functions with the most samples, by own time and including callees.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.__main__ import LONG, ZERO
from bench.loadgen import LoadGenerator
from bench.paths import Load, Paths
from bench.system import running_bench

PROFILED = ("rest_shim", "router_svc", "model_proxy_svc")


def summarize(collapsed: str, top: int = 15) -> str:
    """The top frames of py-spy's collapsed stacks, by own samples and including callees."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[_short(frames[-1])] += count
        for frame in {_short(f) for f in frames}:
            inclusive[frame] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples", "own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines.append("including callees:")
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"
    name, _, where = frame.partition(" (")
    module = where.rsplit("/", 1)[-1].split(":")[0]
    return f"{name} ({module})"


async def profile(load: str, seconds: float, out: Path) -> None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    with tempfile.TemporaryDirectory() as data_dir:
        spec = LONG if load == "stream" else ZERO
        async with running_bench(Path(data_dir), [spec]) as bench:
            await bench.use(spec.name)
            paths = await Paths.learn(bench, bench.backends[spec.name])
            if load == "stream":
                job = paths.text_completion("rest", 5_000, Load(1, duration_s=seconds + 2))
            else:
                job = paths.code_completion("rest", Load(32, duration_s=seconds + 2))
            loadgen = await LoadGenerator.start()
            try:
                running = asyncio.create_task(loadgen.run(job))
                await asyncio.sleep(1)
                pids = bench.pids()
                spies = [
                    await asyncio.create_subprocess_exec(
                        py_spy,
                        "record",
                        "--nonblocking",
                        "--format",
                        "raw",
                        "--duration",
                        str(int(seconds)),
                        "--pid",
                        str(pids[service]),
                        "--output",
                        str(out / f"{service}.txt"),
                        stdout=asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.DEVNULL,
                    )
                    for service in PROFILED
                ]
                for spy in spies:
                    await spy.wait()
                result = await running
            finally:
                await loadgen.close()
    done = len([s for s in result["samples"] if s[4] is None])
    print(f"load: {load}, {done} requests in {result['wall_s']:.1f} s\n")
    for service in PROFILED:
        path = out / f"{service}.txt"
        text = path.read_text() if path.exists() else ""
        print(f"== {service}\n{summarize(text)}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--load", choices=("stream", "short"), default="stream")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench/results/profile"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(profile(args.load, args.seconds, args.out))


if __name__ == "__main__":
    main()
