"""coalesced(): items pass alone while the consumer keeps up, and merged when they queue up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.coalescing import coalesced, merged_chunks


def _join(items: list[str]) -> str:
    return "".join(items)


class _Source:
    """An async generator fed by the test, that records whether it was closed."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | Exception | None] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.pulled = 0

    async def items(self) -> AsyncIterator[str]:
        try:
            while (item := await self.queue.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                self.pulled += 1
                yield item
        finally:
            self.closed.set()


async def test_items_pass_alone_when_the_consumer_keeps_up() -> None:
    source = _Source()
    relay = coalesced(source.items(), _join)
    for item in ("a", "b", "c"):
        source.queue.put_nowait(item)
        assert await anext(relay) == item
    source.queue.put_nowait(None)
    assert [item async for item in relay] == []


async def test_items_that_queued_up_come_merged_in_order() -> None:
    source = _Source()
    relay = coalesced(source.items(), _join)
    source.queue.put_nowait("a")
    assert await anext(relay) == "a"
    for item in ("b", "c", "d"):
        source.queue.put_nowait(item)
    await asyncio.sleep(0.01)  # the reader takes them while nobody consumes
    assert source.pulled == 4
    assert await anext(relay) == "bcd"
    source.queue.put_nowait(None)
    assert [item async for item in relay] == []


async def test_an_error_comes_after_the_items_before_it() -> None:
    source = _Source()
    relay = coalesced(source.items(), _join)
    for item in ("a", "b", ValueError("broken")):
        source.queue.put_nowait(item)
    assert await anext(relay) == "ab"
    with pytest.raises(ValueError, match="broken"):
        await anext(relay)


async def test_closing_the_relay_closes_the_source_before_returning() -> None:
    source = _Source()
    relay = coalesced(source.items(), _join)
    source.queue.put_nowait("a")
    async with aclosing(relay):
        assert await anext(relay) == "a"
    assert source.closed.is_set()


async def test_cancelling_the_consumer_closes_the_source() -> None:
    source = _Source()

    async def consume() -> None:
        async with aclosing(coalesced(source.items(), _join)) as relay:
            async for _ in relay:
                pass

    task = asyncio.create_task(consume())
    source.queue.put_nowait("a")
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert source.closed.is_set()


async def test_a_full_backlog_stops_the_reader_until_the_consumer_takes_it() -> None:
    source = _Source()
    relay = coalesced(source.items(), _join, max_backlog=3)
    source.queue.put_nowait("a")
    assert await anext(relay) == "a"
    for item in "bcdefgh":
        source.queue.put_nowait(item)
    await asyncio.sleep(0.01)
    assert source.pulled == 4  # "a", then three: the reader waits for room
    assert await anext(relay) == "bcd"
    source.queue.put_nowait(None)
    assert "".join([item async for item in relay]) == "efgh"


def test_merged_chunks_join_the_text_and_keep_what_the_first_and_last_chunks_carried() -> None:
    chunk = router_service_pb2.StreamCompleteResponse
    served_by = router_service_pb2.ServedBy(model="m", platform=common_pb2.PLATFORM_BEDROCK)
    usage = common_pb2.TokenUsage(input_tokens=3, output_tokens=2)

    merged = merged_chunks(
        [
            chunk(text="a", served_by=served_by),
            chunk(text="b"),
            chunk(text="c", finish_reason=common_pb2.FINISH_REASON_LENGTH, usage=usage),
        ]
    )

    assert merged == chunk(
        text="abc", served_by=served_by, finish_reason=common_pb2.FINISH_REASON_LENGTH, usage=usage
    )
