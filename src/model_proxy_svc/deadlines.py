"""The timeouts of one upstream exchange, and where retries may happen inside them.

- total (`timeout_s`): from sending the request to the last token, retries included;
- first token (`first_token_timeout_s`): from sending a streamed request to its first chunk;
- idle (`idle_timeout_s`): the longest silence between two chunks;
- connect: enforced by each provider's client (httpx, botocore).

For a stream these clocks count only the time spent waiting on the provider, never the time
the consumer holds a chunk: a timeout must cancel the upstream read, not the gRPC write.
Retries (retries.py) wrap only the part that ends with the first chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Literal, TypeVar

from aigw_common.errors import UpstreamTimeout
from model_proxy_svc.providers.base import Chunk, Upstream
from model_proxy_svc.providers.upstream_errors import metadata_of
from model_proxy_svc.retries import RetryPolicy

_T = TypeVar("_T")
_Clock = Literal["total", "first_token", "idle"]


def _metadata(upstream: Upstream, limit: str, seconds: float) -> dict[str, str]:
    return metadata_of(upstream, limit=limit, timeout_s=f"{seconds:g}")


def _timeout_error(upstream: Upstream, clock: _Clock) -> UpstreamTimeout:
    subject = upstream.describe()
    if clock == "first_token" and upstream.first_token_timeout_s is not None:
        seconds = upstream.first_token_timeout_s
        return UpstreamTimeout(
            f"{subject}: no first token within {seconds:g} s; the server is slow or "
            "overloaded, or the model's limits.first_token_timeout is too short for this prompt",
            metadata=_metadata(upstream, "first_token_timeout", seconds),
        )
    if clock == "idle" and upstream.idle_timeout_s is not None:
        seconds = upstream.idle_timeout_s
        return UpstreamTimeout(
            f"{subject}: the stream stalled: nothing arrived for {seconds:g} s "
            "(the model's limits.idle_timeout)",
            metadata=_metadata(upstream, "idle_timeout", seconds),
        )
    return UpstreamTimeout(
        f"{subject}: no complete answer within {upstream.timeout_s:g} s; the "
        "server is slow or overloaded, or the model's limits.timeout (or the caller's "
        "deadline) is too short for this request",
        metadata=_metadata(upstream, "timeout", upstream.timeout_s),
    )


async def within_deadline(call: Awaitable[_T], upstream: Upstream) -> _T:
    """`call`'s result, or UpstreamTimeout once `upstream.timeout_s` has passed."""
    try:
        async with asyncio.timeout(upstream.timeout_s):
            return await call
    except TimeoutError:
        raise _timeout_error(upstream, "total") from None


async def call_with_retries(
    call: Callable[[], Awaitable[_T]], upstream: Upstream, policy: RetryPolicy
) -> _T:
    """A unary exchange: `call()` retried by `policy`, all of it within the total timeout."""
    deadline = asyncio.get_running_loop().time() + upstream.timeout_s
    try:
        async with asyncio.timeout_at(deadline):
            return await policy.run(call, max_retries=upstream.max_retries, deadline=deadline)
    except TimeoutError:
        raise _timeout_error(upstream, "total") from None


async def guarded_stream(
    open_stream: Callable[[], AsyncGenerator[Chunk, None]],
    upstream: Upstream,
    policy: RetryPolicy,
) -> AsyncGenerator[Chunk, None]:
    """The chunks of `open_stream()` under the three clocks. Opening and waiting for the first
    chunk is retried by `policy`; once a chunk has been yielded nothing is retried. Closing
    this generator closes the provider's, which closes the upstream response."""
    deadline = asyncio.get_running_loop().time() + upstream.timeout_s

    async def first_chunk() -> tuple[AsyncGenerator[Chunk, None], Chunk | None]:
        chunks = open_stream()
        try:
            first = await _next(chunks, upstream, deadline, "first_token")
        except BaseException:
            await chunks.aclose()
            raise
        return chunks, first

    chunks, chunk = await policy.run(
        first_chunk, max_retries=upstream.max_retries, deadline=deadline
    )
    watchdog = _Watchdog(upstream, deadline)
    try:
        async with aclosing(chunks):
            while chunk is not None:
                yield chunk
                chunk = await watchdog.next(chunks)
    finally:
        watchdog.close()


async def _next(
    chunks: AsyncGenerator[Chunk, None], upstream: Upstream, deadline: float, clock: _Clock
) -> Chunk | None:
    """The next chunk (None at the end) within `clock`'s limit and the total deadline."""
    limit_s = upstream.first_token_timeout_s if clock == "first_token" else upstream.idle_timeout_s
    when = deadline
    if limit_s is not None:
        when = min(deadline, asyncio.get_running_loop().time() + limit_s)
    try:
        async with asyncio.timeout_at(when):
            return await anext(chunks, None)
    except TimeoutError:
        raise _timeout_error(upstream, clock if when < deadline else "total") from None


class _Watchdog:
    """The idle and total clocks of a started stream, on one lazily re-armed timer.

    A timer per chunk (asyncio.timeout) cost a quarter of the proxy's CPU on a fast stream.
    Instead each wait records when it must end, and a single timer, re-armed only when it
    fires, cancels a wait that has gone on too long: the same limits, checked for a fraction
    of the cost. Time the consumer holds a chunk is never counted (no wait is recorded then).
    """

    def __init__(self, upstream: Upstream, deadline: float) -> None:
        self._upstream = upstream
        self._deadline = deadline
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[object] | None = None
        self._ends_at: float | None = None
        self._clock: _Clock = "idle"
        self._fired = False
        self._timer: asyncio.TimerHandle | None = None

    async def next(self, chunks: AsyncGenerator[Chunk, None]) -> Chunk | None:
        """The next chunk (None at the end), or UpstreamTimeout when a clock runs out."""
        idle_s = self._upstream.idle_timeout_s
        ends_at = self._deadline
        if idle_s is not None:
            ends_at = min(ends_at, self._loop.time() + idle_s)
        self._clock = "idle" if ends_at < self._deadline else "total"
        self._ends_at = ends_at
        self._task = asyncio.current_task()
        if self._timer is None or self._timer.when() > ends_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(ends_at, self._check)
        try:
            return await anext(chunks, None)
        except asyncio.CancelledError:
            if self._fired and self._task is not None and self._task.uncancel() == 0:
                raise _timeout_error(self._upstream, self._clock) from None
            raise
        finally:
            self._ends_at = None

    def _check(self) -> None:
        self._timer = None
        if self._ends_at is None:
            return  # not waiting now: the next wait arms the timer again
        if self._loop.time() < self._ends_at:
            self._timer = self._loop.call_at(self._ends_at, self._check)
        elif self._task is not None and not self._fired:
            self._fired = True
            self._task.cancel()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
