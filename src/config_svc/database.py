"""One connection to the configuration database, SQLite or PostgreSQL, behind one interface.

The store's SQL is written once, with `?` placeholders, in the subset both databases speak;
what differs is how a write transaction takes its lock, how a read sees one consistent state,
and whether other replicas are told about a change (PostgreSQL NOTIFY, sent in the same
transaction as the change so a listener never hears of a version it cannot read yet).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import psycopg
import psycopg.pq

from aigw_common.errors import UpstreamUnavailable
from aigw_common.postgres import connect_postgres, database_unavailable
from aigw_common.private_files import ensure_private_dir, ensure_private_file
from aigw_common.settings import DatabaseSettings

# The channel every config_svc replica LISTENs on; the payload is the new version.
CHANGES_CHANNEL = "aigw_config_changes"

Params = Sequence[Any]


class Rows(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Any: ...


class Database:
    """A connection the store drives: `execute` takes `?` placeholders on either backend."""

    def execute(self, sql: str, params: Params = ()) -> Rows:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        for params in rows:
            self.execute(sql, params)

    def begin_read(self) -> None:
        """Start a transaction that sees one consistent state."""
        raise NotImplementedError

    def begin_write(self) -> None:
        """Start a transaction that no other writer (any replica) runs alongside."""
        raise NotImplementedError

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        raise NotImplementedError

    def announce(self, version: int) -> None:
        """Tell every replica (once this transaction commits) that `version` exists."""

    def close(self) -> None:
        raise NotImplementedError


class SqliteDatabase(Database):
    def __init__(self, path: Path) -> None:
        ensure_private_dir(path.parent)
        ensure_private_file(path)
        # Autocommit mode: every transaction here is begun and ended explicitly. The connection
        # is used from worker threads, one at a time (ConfigStore's lock).
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self._conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a change acknowledged to the caller survives a power cut, not only a crash.
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA busy_timeout = 5000")
        except BaseException:
            self._conn.close()
            raise

    def execute(self, sql: str, params: Params = ()) -> Rows:
        return self._conn.execute(sql, params)

    def begin_read(self) -> None:
        self._conn.execute("BEGIN")

    def begin_write(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def close(self) -> None:
        self._conn.close()


class PostgresDatabase(Database):
    """A PostgreSQL connection that reconnects on the next use after the server went away."""

    def __init__(self, settings: DatabaseSettings) -> None:
        assert settings.url is not None
        self._settings = settings
        self._conn: psycopg.Connection[Any] | None = None
        self._connection()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = connect_postgres(self._settings, autocommit=True)
        return self._conn

    def execute(self, sql: str, params: Params = ()) -> Rows:
        # Both placeholders mean "a parameter"; no statement here has a literal `?` or `%`.
        statement = sql.replace("?", "%s")
        try:
            return self._connection().execute(statement, params)
        except psycopg.OperationalError as error:
            self._drop_broken()
            raise database_unavailable() from error

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        with self._connection().cursor() as cursor:
            try:
                cursor.executemany(sql.replace("?", "%s"), list(rows))
            except psycopg.OperationalError as error:
                self._drop_broken()
                raise database_unavailable() from error

    def begin_read(self) -> None:
        self.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def begin_write(self) -> None:
        self.execute("BEGIN")
        # The version row is the one lock every writer takes: changes from any replica are
        # serialised, and each sees the state the previous one committed.
        self.execute("SELECT version FROM config_version WHERE id = 1 FOR UPDATE")

    @property
    def in_transaction(self) -> bool:
        conn = self._conn
        return (
            conn is not None
            and not conn.closed
            and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
        )

    def rollback(self) -> None:
        # A connection that is gone took its transaction with it.
        with contextlib.suppress(UpstreamUnavailable):
            super().rollback()

    def announce(self, version: int) -> None:
        self.execute("SELECT pg_notify(?, ?)", (CHANGES_CHANNEL, str(version)))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def _drop_broken(self) -> None:
        if self._conn is not None and self._conn.broken:
            self._conn.close()
            self._conn = None
