"""The latest configuration snapshot, and a way to wait for a newer one.

A watcher only ever needs the newest snapshot, so nothing is queued: publishing replaces the
snapshot and wakes everyone waiting, and a watcher that was busy sending simply picks up
whatever is newest when it next asks. Writers never wait for watchers, nor watchers for each
other.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from aigw.config.v1 import config_service_pb2


class SnapshotBroadcast:
    """Holds the newest ConfigSnapshot and wakes watchers when a newer one is published."""

    def __init__(self, initial: config_service_pb2.ConfigSnapshot) -> None:
        self._latest = initial
        self._changed = asyncio.Event()
        self._closed = False

    @property
    def latest(self) -> config_service_pb2.ConfigSnapshot:
        """The newest snapshot; shared, so never modify it."""
        return self._latest

    @property
    def version(self) -> int:
        return self._latest.version

    def publish(self, snapshot: config_service_pb2.ConfigSnapshot) -> bool:
        """Make `snapshot` the latest if it is newer; return whether it was.

        Concurrent writers may publish out of order; an older snapshot is dropped.
        """
        if snapshot.version <= self._latest.version:
            return False
        self._latest = snapshot
        # Swap in a fresh event before waking: waiters that loop back see the new one.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return True

    def close(self) -> None:
        """End every watch (at shutdown: watches never finish by themselves)."""
        self._closed = True
        self._changed.set()

    async def newer_than(self, version: int) -> config_service_pb2.ConfigSnapshot | None:
        """The latest snapshot once its version exceeds `version` (at once if it already does);
        None once the broadcast is closed."""
        while self._latest.version <= version:
            if self._closed:
                return None
            await self._changed.wait()
        return self._latest

    async def watch(
        self, known_version: int
    ) -> AsyncGenerator[config_service_pb2.ConfigSnapshot, None]:
        """Each newer snapshot, starting with the first newer than `known_version`, until the
        broadcast is closed."""
        while (snapshot := await self.newer_than(known_version)) is not None:
            yield snapshot
            known_version = snapshot.version
