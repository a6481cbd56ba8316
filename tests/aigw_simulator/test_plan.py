"""The simulated answer: token count, finish reason and stop strings."""

from __future__ import annotations

import pytest

from aigw_simulator.plan import Pace, make_plan, simulated_text

_PACE = Pace(first_token_delay_s=0.5, tokens_per_second=10)


def _plan(wanted: int, max_tokens: int | None, stop: list[str] | None = None):  # type: ignore[no-untyped-def]
    return make_plan(
        wanted_tokens=wanted,
        max_tokens=max_tokens,
        stop=stop or [],
        prompt_tokens=1,
        pace=_PACE,
        error_after_tokens=None,
    )


@pytest.mark.parametrize(
    ("wanted", "max_tokens", "count", "finish"),
    [
        (5, None, 5, "stop"),
        (5, 3, 3, "length"),
        (5, 5, 5, "length"),
        (5, 9, 5, "stop"),
        (0, 4, 0, "stop"),
    ],
)
def test_max_tokens_caps_and_decides_the_finish_reason(
    wanted: int, max_tokens: int | None, count: int, finish: str
) -> None:
    plan = _plan(wanted, max_tokens)

    assert plan.text == simulated_text(count)
    assert plan.completion_tokens == count
    assert plan.finish_reason == finish
    assert plan.stop_reason is None


def test_stop_string_spanning_tokens_is_removed() -> None:
    plan = _plan(6, None, ["1 tok2", "tok4"])

    assert plan.text == " tok0 tok"
    assert plan.pieces == (" tok0", " tok")
    assert plan.completion_tokens == 3
    assert (plan.finish_reason, plan.stop_reason) == ("stop", "1 tok2")


def test_stop_string_not_produced_changes_nothing() -> None:
    plan = _plan(3, None, ["tok9"])

    assert plan.text == simulated_text(3)
    assert plan.stop_reason is None


def test_pace() -> None:
    assert _PACE.token_offset_s(0) == 0.5
    assert _PACE.token_offset_s(5) == pytest.approx(1.0)
    assert Pace(first_token_delay_s=0.2, tokens_per_second=0).token_offset_s(99) == 0.2
