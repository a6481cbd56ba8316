"""The one retry policy every provider shares, built on tenacity.

An attempt is retried only when it failed with `RetryableUpstreamError` (connect errors, 429,
500/502/503/504, a provider's "overloaded") and only before the first token has been relayed:
callers wrap the part of an exchange that ends at the first token (or the whole answer of a
unary call), never a stream that has started. Waits are exponential with full jitter, at least
what the server asked for (`retry-after-ms`, then `retry-after`), and bounded twice: by the
model's `max_retries` and by a budget of waiting time that also never runs past the request's
deadline. A server asking for a longer wait than the budget allows is answered at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_random_exponential

from aigw_common.errors import UpstreamUnavailable
from aigw_common.settings import ModelProxySettings

_T = TypeVar("_T")

# Server failures a later attempt may not meet, for every HTTP provider: 500 is how vLLM reports
# a transient engine error (and Azure OpenAI, Anthropic and Bedrock a passing internal one;
# GitLab's gateway retries it too), 502/503/504 come from overload and proxies in between.
RETRYABLE_SERVER_STATUSES = frozenset({500, 502, 503, 504})


class RetryableUpstreamError(UpstreamUnavailable):
    """A failure a later attempt may not meet; `retry_after_s` is the server's own advice."""

    def __init__(
        self,
        message: str,
        *,
        metadata: Mapping[str, str] | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, metadata=metadata)
        self.retry_after_s = retry_after_s


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """The wait a server asked for: Azure's `retry-after-ms`, else `retry-after` in seconds or
    as an HTTP date. None when absent or unreadable. `headers` must look names up ignoring case
    (httpx.Headers does)."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(float(milliseconds) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


class _AtLeastRetryAfter(wait_base):
    """Jittered exponential backoff, never shorter than the server's Retry-After."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self._backoff = wait_random_exponential(multiplier=initial_s, max=max_s)

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff: float = self._backoff(retry_state)
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        advised = error.retry_after_s if isinstance(error, RetryableUpstreamError) else None
        return max(backoff, advised or 0.0)


class _WaitBudget(stop_base):
    """Stop when the next wait would exceed the waiting budget or reach the deadline."""

    def __init__(self, budget_s: float, deadline: float) -> None:
        self._budget_s = budget_s
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        upcoming = retry_state.upcoming_sleep
        if retry_state.idle_for + upcoming > self._budget_s:
            return True
        return asyncio.get_running_loop().time() + upcoming >= self._deadline


class RetryPolicy:
    """How failed attempts are retried (settings give the defaults; each model its count)."""

    def __init__(self, settings: ModelProxySettings) -> None:
        self._initial_s = settings.retry_initial_backoff_s
        self._max_backoff_s = settings.retry_max_backoff_s
        self._budget_s = settings.retry_max_wait_s

    async def run(
        self, attempt: Callable[[], Awaitable[_T]], *, max_retries: int, deadline: float
    ) -> _T:
        """`attempt()`'s result, retried as the module docstring says; the last error if every
        attempt failed, its message saying how many were made."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(RetryableUpstreamError),
            stop=stop_after_attempt(max_retries + 1) | _WaitBudget(self._budget_s, deadline),
            wait=_AtLeastRetryAfter(self._initial_s, self._max_backoff_s),
            retry_error_callback=_give_up,
            sleep=asyncio.sleep,
        )

        async def once() -> _T:  # tenacity awaits only what is declared `async def`
            return await attempt()

        result: _T = await retrying(once)
        return result


def _give_up(retry_state: RetryCallState) -> None:
    outcome = retry_state.outcome
    assert outcome is not None  # tenacity calls this only after a failed attempt
    error = outcome.exception()
    assert isinstance(error, RetryableUpstreamError)
    attempts = retry_state.attempt_number
    notes = []
    if attempts > 1:
        notes.append(f"gave up after {attempts} attempts")
    if error.retry_after_s is not None:
        notes.append(f"the server asked to retry after {error.retry_after_s:g} s")
    if notes:
        error.message = f"{error.message} ({'; '.join(notes)})"
        error.args = (error.message,)
    error.metadata["attempts"] = str(attempts)
    raise error
