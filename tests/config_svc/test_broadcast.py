from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from aigw.config.v1 import config_service_pb2
from config_svc.broadcast import SnapshotBroadcast


def _snapshot(version: int) -> config_service_pb2.ConfigSnapshot:
    return config_service_pb2.ConfigSnapshot(version=version)


async def _next(
    watch: AsyncGenerator[config_service_pb2.ConfigSnapshot, None],
) -> config_service_pb2.ConfigSnapshot:
    return await anext(watch)


async def test_newer_than_returns_at_once_when_already_newer() -> None:
    broadcast = SnapshotBroadcast(_snapshot(3))

    snapshot = await asyncio.wait_for(broadcast.newer_than(2), 1.0)
    assert snapshot is not None
    assert snapshot.version == 3


async def test_waiters_wake_on_publish_and_older_snapshots_are_dropped() -> None:
    broadcast = SnapshotBroadcast(_snapshot(3))
    waiters = [asyncio.create_task(broadcast.newer_than(3)) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(waiter.done() for waiter in waiters)

    assert broadcast.publish(_snapshot(4))
    assert not broadcast.publish(_snapshot(4))
    assert not broadcast.publish(_snapshot(2))

    results = await asyncio.wait_for(asyncio.gather(*waiters), 1.0)
    assert [snapshot.version for snapshot in results if snapshot] == [4, 4]
    assert broadcast.version == 4


async def test_a_slow_watcher_gets_only_the_latest_and_blocks_nobody() -> None:
    broadcast = SnapshotBroadcast(_snapshot(1))
    slow = broadcast.watch(0)
    fast = broadcast.watch(1)
    assert (await anext(slow)).version == 1
    fast_next = asyncio.create_task(_next(fast))

    # The slow watcher is not reading; publishing must neither wait for it nor queue for it.
    for version in range(2, 6):
        assert broadcast.publish(_snapshot(version))

    assert (await asyncio.wait_for(fast_next, 1.0)).version >= 2
    assert (await asyncio.wait_for(anext(slow), 1.0)).version == 5
    await slow.aclose()
    await fast.aclose()


async def test_closing_ends_every_watch() -> None:
    broadcast = SnapshotBroadcast(_snapshot(1))
    watch = broadcast.watch(1)
    waiting = asyncio.create_task(anext(watch))
    await asyncio.sleep(0)
    broadcast.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 1.0)
