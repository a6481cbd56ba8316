"""The configuration store on a real PostgreSQL: the same semantics as SQLite across replicas,
NOTIFY in the change's transaction, and clear failures while the database is away."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from aigw.config.v1 import config_service_pb2
from aigw_cli.local_suite import free_ports
from aigw_common.errors import Aborted, FailedPrecondition, UpstreamUnavailable
from aigw_common.settings import DatabaseSettings
from config_svc.broadcast import SnapshotBroadcast
from config_svc.change_feed import ChangeFeed
from config_svc.database import CHANGES_CHANNEL
from config_svc.migrate import SchemaTooNew, current_revision, head_revision, migrate
from config_svc.store import AuditEntry, ConfigStore, Mutation
from tests.config_svc.support import model_request


def _model(name: str) -> config_service_pb2.Model:
    model = model_request(name).model
    model.target.name = name
    model.target.family = model.family
    return model


def _audit(change: str) -> Mutation:
    return Mutation(audit=AuditEntry("tester", "CreateModel", (change,)))


@pytest.fixture
def database(postgres_url: str) -> DatabaseSettings:
    # Polling slow enough that a prompt change can only have come by NOTIFY.
    return DatabaseSettings(url=SecretStr(postgres_url), poll_interval_s=30)


@pytest.fixture
async def replicas(
    database: DatabaseSettings, tmp_path: Path
) -> AsyncIterator[tuple[ConfigStore, ConfigStore]]:
    first = await ConfigStore.open_database(database, tmp_path / "unused.sqlite3")
    second = await ConfigStore.open_database(database, tmp_path / "unused.sqlite3")
    yield first, second
    await first.close()
    await second.close()


async def test_replicas_share_one_version_and_audit_trail(
    replicas: tuple[ConfigStore, ConfigStore],
) -> None:
    first, second = replicas

    v2 = await first.create_model(_model("a"), _audit("created a"))
    v3 = await second.create_model(_model("b"), _audit("created b"))

    assert (v2, v3) == (2, 3)
    snapshot = await first.load_snapshot()
    assert snapshot.version == 3
    assert [model.name for model in snapshot.models] == ["a", "b"]
    assert [event.changes[0] for event in await second.list_audit_events(before=0, limit=10)] == [
        "created b",
        "created a",
    ]


async def test_expected_version_is_checked_against_every_replicas_writes(
    replicas: tuple[ConfigStore, ConfigStore],
) -> None:
    first, second = replicas
    base = await first.current_version()
    await first.create_model(_model("a"))

    with pytest.raises(Aborted) as raised:
        await second.create_model(_model("b"), Mutation(expected_version=base))

    assert raised.value.metadata == {"expected_version": str(base), "version": str(base + 1)}
    assert [model.name for model in (await second.load_snapshot()).models] == ["a"]


async def test_concurrent_writers_on_two_replicas_get_distinct_consecutive_versions(
    replicas: tuple[ConfigStore, ConfigStore],
) -> None:
    first, second = replicas
    versions = await asyncio.gather(
        *((first if index % 2 else second).create_model(_model(f"m{index}")) for index in range(20))
    )

    assert sorted(versions) == list(range(2, 22))
    assert len((await first.load_snapshot()).models) == 20


async def test_a_change_is_notified_in_its_transaction_and_followed_by_the_other_replica(
    replicas: tuple[ConfigStore, ConfigStore], database: DatabaseSettings
) -> None:
    first, second = replicas
    broadcast = SnapshotBroadcast(await second.load_snapshot())
    feed = ChangeFeed(second, broadcast, database)
    feed.start()
    try:
        # The listener is connected once it has caught up; give it a moment to LISTEN.
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        version = await first.create_model(_model("a"))
        async with asyncio.timeout(5):
            snapshot = await broadcast.newer_than(version - 1)
        elapsed_ms = (time.perf_counter() - started) * 1000
    finally:
        await feed.stop()

    assert snapshot is not None
    assert snapshot.version == version
    assert [model.name for model in snapshot.models] == ["a"]
    # Far below the 30 s poll: it came by NOTIFY.
    print(f"notify -> other replica's broadcast: {elapsed_ms:.1f} ms")


async def test_a_rolled_back_change_notifies_nobody(
    replicas: tuple[ConfigStore, ConfigStore], database: DatabaseSettings
) -> None:
    first, _ = replicas
    assert database.url is not None
    with psycopg.connect(database.url.get_secret_value(), autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANGES_CHANNEL}")
        await first.create_model(_model("a"))
        with pytest.raises(Aborted):
            await first.create_model(_model("b"), Mutation(expected_version=1))
        payloads = [notice.payload for notice in listener.notifies(timeout=0.5)]

    assert payloads == ["2"]


async def test_polling_catches_up_when_no_notification_comes(tmp_path: Path) -> None:
    # Two processes on one SQLite file have no NOTIFY: polling alone carries the change.
    path = tmp_path / "config.sqlite3"
    settings = DatabaseSettings(poll_interval_s=0.05)
    first = await ConfigStore.open_database(settings, path)
    second = await ConfigStore.open_database(settings, path)
    broadcast = SnapshotBroadcast(await second.load_snapshot())
    feed = ChangeFeed(second, broadcast, settings)
    feed.start()
    try:
        version = await first.create_model(_model("a"))
        async with asyncio.timeout(5):
            snapshot = await broadcast.newer_than(version - 1)
    finally:
        await feed.stop()
        await first.close()
        await second.close()

    assert snapshot is not None
    assert snapshot.version == version


async def test_a_lost_connection_fails_that_call_clearly_and_the_next_reconnects(
    replicas: tuple[ConfigStore, ConfigStore], database: DatabaseSettings
) -> None:
    first, _ = replicas
    assert database.url is not None
    await first.create_model(_model("a"))
    dbname = database.url.get_secret_value().rpartition("/")[2]
    with psycopg.connect(database.url.get_secret_value(), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        )

    with pytest.raises(UpstreamUnavailable) as raised:
        await first.create_model(_model("b"))

    assert raised.value.reason == "DATABASE_UNAVAILABLE"
    assert "AIGW_DATABASE__URL" in raised.value.message
    assert "127.0.0.1" not in raised.value.message
    await first.create_model(_model("b"))
    assert [model.name for model in (await first.load_snapshot()).models] == ["a", "b"]


async def test_an_unreachable_database_is_refused_at_open_without_quoting_the_url(
    tmp_path: Path,
) -> None:
    (unused_tcp_port,) = free_ports(1)
    settings = DatabaseSettings(
        url=SecretStr(f"postgresql://postgres:hunter2@127.0.0.1:{unused_tcp_port}/x"),
        connect_timeout_s=1,
        migrate_on_start=False,
    )

    with pytest.raises(UpstreamUnavailable) as raised:
        await ConfigStore.open_database(settings, tmp_path / "unused", migrate_first=False)

    assert "hunter2" not in str(raised.value)


def test_migrations_reach_head_and_a_newer_schema_is_refused(
    database: DatabaseSettings, tmp_path: Path
) -> None:
    unused = tmp_path / "unused.sqlite3"
    assert current_revision(database, unused) is None
    assert migrate(database, unused) == head_revision()
    # Idempotent: replicas starting together each run it.
    assert migrate(database, unused) == head_revision()
    assert database.url is not None
    with psycopg.connect(database.url.get_secret_value(), autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")

    with pytest.raises(SchemaTooNew):
        migrate(database, unused)


async def test_a_replica_that_does_not_migrate_refuses_an_old_schema(
    database: DatabaseSettings, tmp_path: Path
) -> None:
    settings = database.model_copy(update={"migrate_on_start": False})

    with pytest.raises(FailedPrecondition, match="aigw db migrate"):
        await ConfigStore.open_database(settings, tmp_path / "unused", migrate_first=False)
