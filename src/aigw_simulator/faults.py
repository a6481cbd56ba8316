"""What every protocol shares: per-request overrides, injected failures, and the answer's plan.

Per-request overrides (extension headers, for tests): `X-Simulator-Tokens`,
`X-Simulator-Tokens-Per-Second`, `X-Simulator-First-Token-Delay` (seconds),
`X-Simulator-Fail-Status`, `X-Simulator-Error-After-Tokens`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from aigw_simulator.plan import Pace, Plan, make_plan
from aigw_simulator.requests import RequestError
from aigw_simulator.state import Simulator


def failure_status(simulator: Simulator, headers: Mapping[str, str]) -> int:
    """The HTTP status this request must fail with (0 for none), counting down `fail_count`."""
    config = simulator.config
    status = header_int(headers, "x-simulator-fail-status", config.fail_status)
    if not status or "x-simulator-fail-status" in headers or config.fail_count is None:
        return status
    if config.fail_count <= 0:
        return 0
    simulator.config = dataclasses.replace(config, fail_count=config.fail_count - 1)
    return status


def retry_after_headers(simulator: Simulator, *, with_ms: bool) -> dict[str, str]:
    """`retry-after` (whole seconds, rounded up) and, as Azure sends it, `retry-after-ms`."""
    seconds = simulator.config.retry_after_s
    if seconds is None:
        return {}
    headers = {"retry-after": str(math.ceil(seconds))}
    if with_ms:
        headers["retry-after-ms"] = str(round(seconds * 1000))
    return headers


def plan_for(
    simulator: Simulator,
    headers: Mapping[str, str],
    *,
    max_tokens: int | None,
    stop: list[str],
    prompt_tokens: int,
) -> Plan:
    """The answer to one request under the current config and the request's overrides."""
    config = simulator.config
    pace = pace_for(simulator, headers)
    error_after = header_int(headers, "x-simulator-error-after-tokens", -1)
    return make_plan(
        wanted_tokens=header_int(headers, "x-simulator-tokens", config.tokens),
        max_tokens=max_tokens,
        stop=stop,
        prompt_tokens=prompt_tokens,
        pace=pace,
        error_after_tokens=error_after if error_after >= 0 else config.error_after_tokens,
        stall_after_tokens=config.stall_after_tokens,
        cut_after_tokens=config.cut_after_tokens,
    )


def pace_for(simulator: Simulator, headers: Mapping[str, str]) -> Pace:
    """How fast to answer, under the current config and the request's overrides."""
    config = simulator.config
    return Pace(
        first_token_delay_s=header_float(
            headers, "x-simulator-first-token-delay", config.first_token_delay_s
        ),
        tokens_per_second=header_float(
            headers, "x-simulator-tokens-per-second", config.tokens_per_second
        ),
    )


def header_int(headers: Mapping[str, str], name: str, default: int) -> int:
    value = headers.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise RequestError(f"header {name} must be an integer, got {value!r}") from None
    if number < 0:
        raise RequestError(f"header {name} must not be negative, got {value!r}")
    return number


def header_float(headers: Mapping[str, str], name: str, default: float) -> float:
    value = headers.get(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise RequestError(f"header {name} must be a number, got {value!r}") from None
    if not number >= 0:
        raise RequestError(f"header {name} must not be negative, got {value!r}")
    return number


def words(text: str) -> int:
    """The simulator's token count for input text: whitespace-separated words."""
    return len(text.split())
