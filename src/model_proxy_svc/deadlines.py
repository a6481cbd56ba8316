"""One deadline for a whole upstream exchange, from sending the request to the last token.

For a stream the deadline covers only the time spent waiting on the provider, never the time
the consumer holds a chunk: a timeout must cancel the upstream read, not the gRPC write.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable
from contextlib import aclosing
from typing import TypeVar

from aigw_common.errors import UpstreamTimeout
from model_proxy_svc.providers.base import Upstream

_T = TypeVar("_T")


def _timeout_error(upstream: Upstream) -> UpstreamTimeout:
    return UpstreamTimeout(
        f"{upstream.describe()}: no complete answer within {upstream.timeout_s:g} s; the "
        "server is slow or overloaded, or the model's limits.timeout (or the caller's "
        "deadline) is too short for this request",
        metadata={
            "model": upstream.model_name,
            "identifier": upstream.identifier,
            "endpoint": upstream.display_endpoint,
            "timeout_s": f"{upstream.timeout_s:g}",
        },
    )


async def within_deadline(call: Awaitable[_T], upstream: Upstream) -> _T:
    """`call`'s result, or UpstreamTimeout once `upstream.timeout_s` has passed."""
    try:
        async with asyncio.timeout(upstream.timeout_s):
            return await call
    except TimeoutError:
        raise _timeout_error(upstream) from None


async def stream_within_deadline(
    chunks: AsyncGenerator[_T, None], upstream: Upstream
) -> AsyncGenerator[_T, None]:
    """`chunks` relayed as they come, or UpstreamTimeout once `upstream.timeout_s` has passed
    since the first call; closing this generator closes `chunks`."""
    deadline = asyncio.get_running_loop().time() + upstream.timeout_s
    async with aclosing(chunks):
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise _timeout_error(upstream) from None
            yield chunk
