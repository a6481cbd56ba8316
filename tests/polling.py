"""Waiting for state that lives in another component (a simulator's records, a watched copy)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], T], *, timeout_s: float = 1.0) -> T:
    """The first truthy value `probe` returns, polling every 10 ms; TimeoutError after timeout_s."""
    async with asyncio.timeout(timeout_s):
        while not (value := probe()):  # noqa: ASYNC110 - the state is not ours to signal
            await asyncio.sleep(0.01)
    return value


async def until(
    probe: Callable[[], Awaitable[T | None]], *, timeout_s: float = 1.0, interval_s: float = 0.05
) -> T:
    """The first truthy value the coroutine `probe` returns; TimeoutError after timeout_s."""
    async with asyncio.timeout(timeout_s):
        while not (value := await probe()):  # noqa: ASYNC110 - the state is not ours to signal
            await asyncio.sleep(interval_s)
    return value
