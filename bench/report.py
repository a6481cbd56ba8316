"""The run's results as markdown tables (and the targets each figure is held to)."""

from __future__ import annotations

from typing import Any

# (figure, target) pairs, checked in `targets`.
TTFT_P50_MS = 1.5
TTFT_P99_MS = 5.0
COMPLETIONS_PER_S = 1_000
ONE_STREAM_TOKENS_S = 20_000
MANY_STREAMS_TOKENS_S = 50_000
SUITE_RSS_MIB = 1024
DISCONNECT_P99_MS = 100
SWITCH_MS = 1_000


def _f(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in errors.items()) or "0"


def markdown(result: dict[str, Any]) -> str:
    lines: list[str] = []
    for backend, runs in result.get("ttft", {}).items():
        lines += [
            f"### Time to first token, {backend} backend",
            "",
            "| c | path | TTFT p50 ms | TTFT p99 ms | added p50 ms | added p99 ms "
            "| total p50 ms | errors | load gen CPU |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for run in runs:
            for name, row in run["paths"].items():
                lines.append(
                    f"| {run['concurrency']} | {name} | {_f(row['ttft_p50_ms'])} "
                    f"| {_f(row['ttft_p99_ms'])} | {_f(row.get('added_ttft_p50_ms', 0.0))} "
                    f"| {_f(row.get('added_ttft_p99_ms', 0.0))} | {_f(row['total_p50_ms'])} "
                    f"| {_errors(row['errors'])} | {_f(row['loadgen_cpu_pct'], 0)}% |"
                )
        lines.append("")
    if throughput := result.get("throughput"):
        lines += [
            f"### Short streamed completions per second, c={throughput['concurrency']}",
            "",
            "| path | completions/s | errors | load gen CPU | CPU ms per completion |",
            "|---|---|---|---|---|",
        ]
        for name, row in throughput["paths"].items():
            per = ", ".join(f"{k} {v:.2f}" for k, v in row["cpu_ms_per_completion"].items())
            lines.append(
                f"| {name} | {_f(row['per_s'], 0)} | {_errors(row['errors'])} "
                f"| {_f(row['loadgen_cpu_pct'], 0)}% | {per} |"
            )
        lines.append("")
    if tokens := result.get("tokens"):
        lines += [
            "### Relayed tokens per second",
            "",
            "| streams | path | tokens/s | vs direct | errors | load gen CPU |",
            "|---|---|---|---|---|---|",
        ]
        for rows in tokens.values():
            for name, row in rows.items():
                lines.append(
                    f"| {row['streams']} x {row['tokens_per_stream']} | {name} "
                    f"| {_f(row['tokens_per_s'], 0)} | {_f(row.get('vs_direct', 1.0))}x "
                    f"| {_errors(row['errors'])} | {_f(row['loadgen_cpu_pct'], 0)}% |"
                )
        lines.append("")
    if disconnect := result.get("disconnect"):
        lines += [
            "### Client disconnect to upstream closed",
            "",
            "| path | disconnects | upstream closed | p50 ms | p99 ms |",
            "|---|---|---|---|---|",
        ]
        for name, row in disconnect.items():
            lines.append(
                f"| {name} | {row['disconnects']} | {row['upstream_closed']} "
                f"| {_f(row['p50_ms'])} | {_f(row['p99_ms'])} |"
            )
        lines.append("")
    if soak := result.get("slow_streams"):
        lines += [
            f"### {soak['streams']:,} concurrent slow streams (REST, 1 token/s, 40 s each, "
            f"then the next): all open after {soak['ramp_s']:.0f} s, then kept open "
            f"{soak['plateau_s']:.0f} s ({soak['streams_opened']:,} streams; errors: "
            f"{_errors(soak['errors'])})",
            "",
            "| service | before MiB | peak MiB | growth while all were open MiB |",
            "|---|---|---|---|",
        ]
        for service, peak in soak["peak_mib"].items():
            lines.append(
                f"| {service} | {_f(soak['baseline_mib'][service], 0)} | {_f(peak, 0)} "
                f"| {_f(soak['plateau_growth_mib'][service], 1)} |"
            )
        lines += [f"| **suite** | | **{_f(soak['suite_peak_mib'], 0)}** | |", ""]
    if switch := result.get("feature_switch"):
        lines += [
            "### Feature switch to the router serving the new model",
            "",
            f"{switch['switches']} switches: p50 {_f(switch['p50_ms'])} ms, "
            f"max {_f(switch['max_ms'])} ms",
            "",
        ]
    if peers := result.get("peers"):
        lines += ["### Peers (same backend, same load generator)", ""]
        for name, peer in peers.items():
            lines.append(f"- **{name}**: {peer.get('note', '')}")
        lines.append("")
    lines += ["### Targets", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {'yes' if ok else 'no'} |" for t, m, ok in targets(result)]
    return "\n".join(lines) + "\n"


def targets(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    rows: list[tuple[str, str, bool]] = []
    for run in result.get("ttft", {}).get("zero-delay", []):
        if run["concurrency"] == 1:
            rest = run["paths"]["rest"]
            p50, p99 = rest["added_ttft_p50_ms"], rest["added_ttft_p99_ms"]
            rows.append(
                (
                    "added TTFT, REST, c=1: p50 <= 1.5 ms, p99 <= 5 ms",
                    f"p50 {_f(p50)} ms, p99 {_f(p99)} ms",
                    p50 <= TTFT_P50_MS and p99 <= TTFT_P99_MS,
                )
            )
    if throughput := result.get("throughput"):
        rest = throughput["paths"]["rest"]
        rows.append(
            (
                ">= 1,000 short streamed completions/s at c=32 (REST), no errors",
                f"{_f(rest['per_s'], 0)}/s, errors {_errors(rest['errors'])}",
                rest["per_s"] >= COMPLETIONS_PER_S and not rest["errors"],
            )
        )
    if tokens := result.get("tokens"):
        one = tokens["one"]["rest"]["tokens_per_s"]
        many = tokens["many"]["rest"]["tokens_per_s"]
        rows.append(
            (
                ">= 20,000 relayed tokens/s on one stream (REST)",
                _f(one, 0),
                one >= ONE_STREAM_TOKENS_S,
            )
        )
        rows.append(
            (
                ">= 50,000 relayed tokens/s across 64 streams (REST)",
                _f(many, 0),
                many >= MANY_STREAMS_TOKENS_S,
            )
        )
    if soak := result.get("slow_streams"):
        rows.append(
            (
                f"{soak['streams']:,} slow streams: suite < 1 GB RSS",
                f"{_f(soak['suite_peak_mib'], 0)} MiB",
                soak["suite_peak_mib"] < SUITE_RSS_MIB and not soak["errors"],
            )
        )
    if disconnect := result.get("disconnect"):
        worst = max(row["p99_ms"] for row in disconnect.values())
        rows.append(
            (
                "disconnect -> upstream closed p99 < 100 ms",
                f"{_f(worst)} ms (worst path)",
                worst < DISCONNECT_P99_MS,
            )
        )
    if switch := result.get("feature_switch"):
        rows.append(
            ("feature switch < 1 s", f"max {_f(switch['max_ms'])} ms", switch["max_ms"] < SWITCH_MS)
        )
    return rows
