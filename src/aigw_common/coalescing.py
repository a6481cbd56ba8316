"""Relay a stream of small messages, merging the ones that queue up while the consumer is busy.

A reader task pulls from the source as fast as the source yields; the consumer takes whatever
has arrived since its last take, merged into one item. When the consumer keeps up, every item
passes alone and at once (nothing waits to be merged); when it falls behind, the backlog goes
out as one message instead of many. Per-message costs (a gRPC message, an HTTP write, a JSON
event) therefore never cap how fast a stream can go.

Closing or cancelling the relay cancels the reader and closes the source (so, down the line,
the model server's response) before the relay's own close returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, TypeVar, cast

from google.protobuf.message import Message

_T = TypeVar("_T")

# Past this many items waiting, the reader stops pulling: the source then feels back-pressure.
MAX_BACKLOG = 256


async def coalesced(
    source: AsyncIterator[_T],
    merge: Callable[[list[_T]], _T],
    *,
    max_backlog: int = MAX_BACKLOG,
) -> AsyncGenerator[_T, None]:
    """The items of `source`, several at a time merged by `merge` when they queued up.

    An error from `source` is raised after the items that came before it.
    """
    relay = _Relay(source, max_backlog)
    try:
        while True:
            items = await relay.take()
            if not items:
                return
            yield items[0] if len(items) == 1 else merge(items)
    finally:
        await relay.close()


_Chunk = TypeVar("_Chunk", bound=Message)


def merged_chunks(chunks: list[_Chunk]) -> _Chunk:
    """Consecutive chunks of a streamed answer (a protobuf message with a `text`) as one: their
    text joined; every other field as protobuf's merge leaves it (the last value set wins: the
    finish reason and usage of the last chunk, the first chunk's `served_by`, set only there)."""
    merged: Any = type(chunks[0])()
    for chunk in chunks:
        merged.MergeFrom(chunk)
    merged.text = "".join(chunk.text for chunk in cast("list[Any]", chunks))
    return cast("_Chunk", merged)


class _Relay:
    def __init__(self, source: AsyncIterator[Any], max_backlog: int) -> None:
        self._source = source
        self._max_backlog = max_backlog
        self._backlog: list[Any] = []
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._done = False
        self._failure: BaseException | None = None
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async with _closing(self._source) as source:
                async for item in source:
                    self._backlog.append(item)
                    self._arrived.set()
                    if len(self._backlog) >= self._max_backlog:
                        self._room.clear()
                        await self._room.wait()
        except Exception as error:
            self._failure = error
        finally:
            self._done = True
            self._arrived.set()

    async def take(self) -> list[Any]:
        """Everything that arrived since the last take (waiting for at least one item); an
        empty list at the end; raises the source's error once the items before it are taken."""
        while not self._backlog:
            if self._done:
                if self._failure is not None:
                    failure, self._failure = self._failure, None
                    raise failure
                return []
            self._arrived.clear()
            await self._arrived.wait()
        items = self._backlog
        self._backlog = []
        self._room.set()
        return items

    async def close(self) -> None:
        if not self._reader.done():
            self._reader.cancel()
            # The source is closed (the reader's `finally`) before we return.
            await asyncio.wait([self._reader])


def _closing(source: AsyncIterator[Any]) -> Any:
    """`aclosing(source)` for async generators; other iterators need no closing."""
    if hasattr(source, "aclose"):
        return aclosing(source)
    return _NoClose(source)


class _NoClose:
    def __init__(self, source: AsyncIterator[Any]) -> None:
        self._source = source

    async def __aenter__(self) -> AsyncIterator[Any]:
        return self._source

    async def __aexit__(self, *_: object) -> None:
        return None
