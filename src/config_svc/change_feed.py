"""Changes made through any config_svc replica reach this replica's watchers.

A replica's own writes publish at once (servicer.py). Others' writes arrive two ways: on
PostgreSQL a dedicated connection LISTENs for the NOTIFY each change sends in its transaction
(milliseconds), and every replica also polls the version every `poll_interval_s` so a lost
notification, a dropped listener connection or a second process on one SQLite file costs at most
one interval. Either way the snapshot is read from the database, never taken from the message.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import psycopg
import structlog

from aigw_common.errors import AigwError
from aigw_common.postgres import postgres_options
from aigw_common.settings import DatabaseSettings
from config_svc.broadcast import SnapshotBroadcast
from config_svc.database import CHANGES_CHANNEL
from config_svc.store import ConfigStore

_log = structlog.get_logger(__name__)


class ChangeFeed:
    """Runs the listener (PostgreSQL only) and the poller until `stop`."""

    def __init__(
        self, store: ConfigStore, broadcast: SnapshotBroadcast, settings: DatabaseSettings
    ) -> None:
        self._store = store
        self._broadcast = broadcast
        self._settings = settings
        self._refresh_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._poll()))
        if self._settings.url is not None:
            self._tasks.append(asyncio.create_task(self._listen()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def refresh(self, announced: int | None = None) -> None:
        """Publish the stored snapshot if it is newer than the broadcast's."""
        async with self._refresh_lock:
            if announced is not None and announced <= self._broadcast.version:
                return
            if announced is None and await self._store.current_version() <= self._broadcast.version:
                return
            if self._broadcast.publish(snapshot := await self._store.load_snapshot()):
                _log.info("configuration changed elsewhere", version=snapshot.version)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._settings.poll_interval_s)
            try:
                await self.refresh()
            except Exception as error:  # the poller is the safety net: it must outlive errors
                # Watchers keep the last snapshot; the next poll tries again.
                _log.warning("configuration poll failed", error=type(error).__name__)

    async def _listen(self) -> None:
        assert self._settings.url is not None
        backoff_s = 0.1
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._settings.url.get_secret_value(),
                    autocommit=True,
                    **postgres_options(self._settings),
                ) as conn:
                    await conn.execute(f"LISTEN {CHANGES_CHANNEL}")
                    backoff_s = 0.1
                    # Changes made while the listener was away.
                    await self.refresh()
                    await self._follow(conn)
            except (psycopg.Error, OSError, AigwError) as error:
                _log.warning(
                    "configuration listener lost its connection; polling meanwhile",
                    error=type(error).__name__,
                    retry_in_s=backoff_s,
                )
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, self._settings.poll_interval_s)

    async def _follow(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async for notice in conn.notifies():
            try:
                announced = int(notice.payload)
            except ValueError:
                announced = None
            await self.refresh(announced)
