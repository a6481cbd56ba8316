"""The benchmark harness runs end to end (tiny counts; its figures are not asserted)."""

from __future__ import annotations

import pytest
from bench.__main__ import run
from bench.report import markdown
from bench.scenarios import QUICK
from bench.visible import recorded_answers

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(180)
async def test_quick_run_measures_every_path_without_errors() -> None:
    result = await run(QUICK, {"switch", "ttft", "disconnect", "visible"}, [1])

    ttft = result["ttft"]["zero-delay"][0]["paths"]
    assert set(ttft) == {"direct", "proxy", "grpc", "rest"}
    assert all(row["errors"] == {} and row["ttft_p50_ms"] > 0 for row in ttft.values())
    assert ttft["rest"]["added_ttft_p50_ms"] == pytest.approx(
        ttft["rest"]["ttft_p50_ms"] - ttft["direct"]["ttft_p50_ms"]
    )
    # Every closed stream was seen closed upstream, matched by its request id.
    for row in result["disconnect"].values():
        assert row["upstream_closed"] == row["disconnects"] == QUICK.disconnects
    assert result["feature_switch"]["switches"] == QUICK.switches
    # Every GitLab route showed the recorded answers' visible text (all but the one cut empty).
    visible = result["visible"]["routes"]
    answers = len(recorded_answers())
    assert visible["direct"]["requests"] == answers
    assert all(
        row["requests"] == answers - 1 for route, row in visible.items() if route != "direct"
    )
    table = markdown(result)
    assert "| 1 | rest |" in table
    assert "feature switch < 1 s" in table
    assert "| /v4/code/suggestions |" in table


async def test_the_lifecycle_figure_measures_both_paths() -> None:
    from bench.lifecycle import measure

    result = await measure(chunks=2_000, calls=200, rounds=1)

    assert result["direct_us_per_chunk"] > 0
    assert result["lifecycle_us_per_chunk"] > 0
    assert result["added_us_per_call"] == pytest.approx(
        result["lifecycle_us_per_call"] - result["direct_us_per_call"]
    )
