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
from model_proxy_svc.retries import RetryPolicy

_T = TypeVar("_T")
_Clock = Literal["total", "first_token", "idle"]


def _metadata(upstream: Upstream, limit: str, seconds: float) -> dict[str, str]:
    return {
        "model": upstream.model_name,
        "identifier": upstream.identifier,
        "endpoint": upstream.display_endpoint,
        "limit": limit,
        "timeout_s": f"{seconds:g}",
    }


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
    async with aclosing(chunks):
        while chunk is not None:
            yield chunk
            chunk = await _next(chunks, upstream, deadline, "idle")


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
