"""The run's results as markdown tables (and the targets each figure is held to)."""

from __future__ import annotations

from typing import Any

# (figure, target) pairs, checked in `targets`.
TTFT_P50_MS = 2.5
TTFT_P99_MS = 5.0
GRPC_TTFT_P50_MS = 1.5
COMPLETIONS_RATIO = 0.30
CPU_MS_PER_COMPLETION = 3.0
HOT_PATH = ("rest_shim", "router_svc", "model_proxy_svc")
VISIBLE_HOLD_P50_CHUNKS = 1
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
    if visible := result.get("visible"):
        lines += [
            "### Time to first visible text, recorded code completions "
            f"(one chunk = {_f(visible['chunk_ms'], 0)} ms)",
            "",
            "| route | requests | p50 ms | p99 ms | added p50 ms | added p99 ms "
            "| added p50 chunks |",
            "|---|---|---|---|---|---|---|",
        ]
        for route, row in visible["routes"].items():
            lines.append(
                f"| {route} | {row['requests']} | {_f(row['p50_ms'])} | {_f(row['p99_ms'])} "
                f"| {_f(row['added_p50_ms'])} | {_f(row['added_p99_ms'])} "
                f"| {_f(row['added_p50_chunks'])} |"
            )
        holds = visible["holds"]
        lines += [
            "",
            "Chunks post-processing held each visible character (replayed, exact): "
            f"p50 {_f(holds['p50'], 0)}, p99 {_f(holds['p99'], 0)}, max {holds['max']}; "
            f"whitespace (line ends that may start a repeated suffix or a closing fence): "
            f"p50 {_f(holds['whitespace_p50'], 0)}, max {holds['whitespace_max']}.",
            "",
            "| recorded answer | visible chars | first visible held (chunks) | max held "
            "| max whitespace held |",
            "|---|---|---|---|---|",
        ]
        for name, row in holds["answers"].items():
            first = row["first_visible_delay"]
            lines.append(
                f"| {name} | {row['visible_chars']} | {'-' if first is None else first} "
                f"| {row['max_delay']} | {row['max_whitespace_delay']} |"
            )
        lines.append("")
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
                    f"added TTFT, REST, c=1: p50 <= {TTFT_P50_MS} ms, p99 <= {TTFT_P99_MS} ms",
                    f"p50 {_f(p50)} ms, p99 {_f(p99)} ms",
                    p50 <= TTFT_P50_MS and p99 <= TTFT_P99_MS,
                )
            )
            grpc_p50 = run["paths"]["grpc"]["added_ttft_p50_ms"]
            rows.append(
                (
                    f"added TTFT, gRPC, c=1: p50 <= {GRPC_TTFT_P50_MS} ms",
                    f"p50 {_f(grpc_p50)} ms",
                    grpc_p50 <= GRPC_TTFT_P50_MS,
                )
            )
    if throughput := result.get("throughput"):
        rest = throughput["paths"]["rest"]
        ratio = rest["per_s"] / max(throughput["paths"]["direct"]["per_s"], 1e-9)
        rows.append(
            (
                f"short streamed completions/s at c=32 (REST) >= {COMPLETIONS_RATIO} x direct",
                f"{_f(rest['per_s'], 0)}/s = {_f(ratio)} x direct, "
                f"errors {_errors(rest['errors'])}",
                ratio >= COMPLETIONS_RATIO and not rest["errors"],
            )
        )
        spent = sum(rest["cpu_ms_per_completion"].get(name, 0.0) for name in HOT_PATH)
        rows.append(
            (
                f"CPU per short streamed completion, shim + router + proxy <= "
                f"{CPU_MS_PER_COMPLETION} ms",
                f"{_f(spent)} ms",
                spent <= CPU_MS_PER_COMPLETION,
            )
        )
    if visible := result.get("visible"):
        holds = visible["holds"]
        rows.append(
            (
                "post-processing holds visible text <= 1 chunk at p50 (recorded completions)",
                f"p50 {_f(holds['p50'], 0)}, p99 {_f(holds['p99'], 0)} chunks; "
                f"/v2/code/completions adds "
                f"{_f(visible['routes']['/v2/code/completions']['added_p50_chunks'])} chunks p50",
                holds["p50"] <= VISIBLE_HOLD_P50_CHUNKS,
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
