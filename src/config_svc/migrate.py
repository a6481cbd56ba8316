"""The configuration database's schema, migrated by alembic on SQLite and PostgreSQL alike.

The revisions live in `config_svc/migrations/versions`; never edit a released one, add the next.
A database first made by a release that versioned its schema with `PRAGMA user_version` (SQLite
only) is stamped at the matching revision, then upgraded like any other. A database at a
revision this release does not know was written by a newer one and is refused.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from aigw_common.errors import FailedPrecondition
from aigw_common.postgres import database_unavailable, postgres_options
from aigw_common.private_files import ensure_private_dir, ensure_private_file
from aigw_common.settings import DatabaseSettings

SCRIPT_LOCATION = "config_svc:migrations"
# Replicas starting together migrate one at a time (a PostgreSQL advisory lock on this key).
_MIGRATION_LOCK_KEY = 0x61696777_00000001
# Releases before alembic counted their SQLite migrations in `user_version` (1..4), one per
# revision here.
_LEGACY_REVISIONS = ("0001", "0002", "0003", "0004")


class SchemaTooNew(RuntimeError):
    """The database was written by a newer config_svc; refuse rather than misread it."""


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def migrate(settings: DatabaseSettings, sqlite_path: Path) -> str:
    """Bring the database (PostgreSQL if `settings.url`, else SQLite at `sqlite_path`) to the
    newest revision; return it. Safe to run from several processes at once."""
    if settings.url is None:
        # Sealed API keys and the audit trail: owner-only, like every file in the data dir
        # (SQLite gives its WAL and shared-memory files the database file's mode).
        ensure_private_dir(sqlite_path.parent)
        ensure_private_file(sqlite_path)
        _stamp_legacy_sqlite(sqlite_path)
    with _reported():
        return _migrate(settings, sqlite_path)


def _migrate(settings: DatabaseSettings, sqlite_path: Path) -> str:
    engine = _engine(settings, sqlite_path)
    try:
        if engine.dialect.name != "postgresql":
            return _upgrade(engine)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock:
            lock.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            try:
                return _upgrade(engine)
            finally:
                lock.execute(
                    sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
    finally:
        engine.dispose()


def current_revision(settings: DatabaseSettings, sqlite_path: Path) -> str | None:
    """The revision the database is at (None: not created yet)."""
    if settings.url is None and not sqlite_path.exists():
        return None
    engine = _engine(settings, sqlite_path)
    try:
        with _reported(), engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def require_current(settings: DatabaseSettings, sqlite_path: Path) -> None:
    """FailedPrecondition unless the database is at this release's revision (for replicas that
    leave migrating to `aigw db migrate`)."""
    current, head = current_revision(settings, sqlite_path), head_revision()
    if current != head:
        raise FailedPrecondition(
            f"the configuration database is at schema revision {current or 'none'}, this "
            f"release needs {head}: run `aigw db migrate` (the migration Job) first"
        )


@contextlib.contextmanager
def _reported() -> Iterator[None]:
    """A database that cannot be reached is reported like the store reports it."""
    try:
        yield
    except sa.exc.OperationalError as error:
        raise database_unavailable() from error


def _upgrade(engine: sa.Engine) -> str:
    config = _alembic_config()
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    with engine.begin() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        if current is not None and current not in known:
            raise SchemaTooNew(
                f"config database schema revision {current} is newer than this config_svc "
                f"understands (up to {head_revision()}); upgrade config_svc"
            )
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return head_revision()


def _stamp_legacy_sqlite(path: Path) -> None:
    if not path.exists():
        return
    conn = sqlite3.connect(path)
    try:
        legacy = conn.execute("PRAGMA user_version").fetchone()[0]
        stamped = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).fetchone()
        if stamped or not legacy:
            return
        if legacy > len(_LEGACY_REVISIONS):
            raise SchemaTooNew(
                f"config database schema version {legacy} is newer than this config_svc "
                "understands; upgrade config_svc"
            )
        with conn:
            conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
            conn.execute(
                "INSERT INTO alembic_version (version_num) VALUES (?)",
                (_LEGACY_REVISIONS[legacy - 1],),
            )
    finally:
        conn.close()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def _engine(settings: DatabaseSettings, sqlite_path: Path) -> sa.Engine:
    if settings.url is None:
        return sa.create_engine(f"sqlite:///{sqlite_path}", poolclass=sa.NullPool)
    url = sa.make_url(settings.url.get_secret_value()).set(drivername="postgresql+psycopg")
    return sa.create_engine(
        url, poolclass=sa.NullPool, connect_args=postgres_options(settings), hide_parameters=True
    )
