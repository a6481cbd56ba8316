"""Models and feature settings persisted in SQLite, with a version that counts every change.

All database work runs in worker threads (`asyncio.to_thread`) so the event loop never waits on
disk; one lock serialises use of the single connection. Every mutation bumps the version in the
same transaction as the change, so a version always names exactly one state.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw_common.errors import AlreadyExists, FailedPrecondition, NotFound
from config_svc.schema import migrate

DB_FILENAME = "config.sqlite3"

_T = TypeVar("_T")

_MODEL_COLUMNS = (
    "name, family, platform, endpoint, identifier, sealed_api_key, "
    "timeout_seconds, timeout_nanos, max_output_tokens, max_concurrent_requests, "
    "connect_timeout_nanos, first_token_timeout_nanos, idle_timeout_nanos, max_retries, "
    "platform_options"
)
_OPTIONAL_DURATIONS: tuple[
    Literal["connect_timeout", "first_token_timeout", "idle_timeout"], ...
] = (
    "connect_timeout",
    "first_token_timeout",
    "idle_timeout",
)


class ConfigStore:
    """The persisted configuration. Open with `await ConfigStore.open(path)`; close when done."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    async def open(cls, path: Path) -> ConfigStore:
        """Open (creating and migrating as needed) the database at `path`."""
        return cls(await asyncio.to_thread(_connect, path))

    async def close(self) -> None:
        await self._run(self._conn.close)

    async def load_snapshot(self) -> config_service_pb2.ConfigSnapshot:
        """The whole configuration, read in one transaction."""
        return await self._run(self._load_snapshot)

    async def create_model(self, model: config_service_pb2.Model) -> int:
        """Store a new model; AlreadyExists if the name is taken. Returns the new version."""
        return await self._mutate(lambda conn: _insert_model(conn, model))

    async def delete_model(self, name: str) -> int:
        """Remove a model; NotFound if unknown, FailedPrecondition if a feature uses it."""
        return await self._mutate(lambda conn: _delete_model(conn, name))

    async def set_feature_setting(self, setting: config_service_pb2.FeatureSetting) -> int:
        """Replace a feature's setting; FailedPrecondition if it names an unknown model."""
        return await self._mutate(lambda conn: _replace_feature_setting(conn, setting))

    async def list_models(self, *, after: str, limit: int) -> list[config_service_pb2.Model]:
        """Up to `limit` models whose names sort after `after`, by name."""
        return await self._run(lambda: _select_models(self._conn, after=after, limit=limit))

    async def list_feature_settings(
        self, *, after: str, limit: int
    ) -> list[config_service_pb2.FeatureSetting]:
        """Up to `limit` feature settings whose features sort after `after`, by feature."""
        return await self._run(lambda: _select_features(self._conn, after=after, limit=limit))

    async def _run(self, work: Callable[[], _T]) -> _T:
        def locked() -> _T:
            with self._lock:
                return work()

        return await asyncio.to_thread(locked)

    async def _mutate(self, change: Callable[[sqlite3.Connection], None]) -> int:
        def transaction() -> int:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                change(conn)
                conn.execute("UPDATE config_version SET version = version + 1 WHERE id = 1")
                version = _version(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return version

        return await self._run(transaction)

    def _load_snapshot(self) -> config_service_pb2.ConfigSnapshot:
        conn = self._conn
        conn.execute("BEGIN")
        try:
            snapshot = config_service_pb2.ConfigSnapshot(
                version=_version(conn),
                models=_select_models(conn, after="", limit=-1),
                feature_settings=_select_features(conn, after="", limit=-1),
            )
        finally:
            conn.execute("COMMIT")
        return snapshot


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Autocommit mode: every transaction here is begun and ended explicitly. The connection is
    # used from worker threads, one at a time (ConfigStore's lock).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a change acknowledged to the caller survives a power cut, not only a crash.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 5000")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("SELECT version FROM config_version WHERE id = 1").fetchone()[0]
    return version


def _insert_model(conn: sqlite3.Connection, model: config_service_pb2.Model) -> None:
    if conn.execute("SELECT 1 FROM models WHERE name = ?", (model.name,)).fetchone():
        raise AlreadyExists(f"model {model.name!r} already exists", metadata={"model": model.name})
    target = model.target
    limits = target.limits
    has_timeout = limits.HasField("timeout")
    conn.execute(
        f"INSERT INTO models ({_MODEL_COLUMNS}) "  # noqa: S608
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            model.name,
            model.family,
            target.platform,
            target.endpoint,
            target.identifier,
            target.sealed_api_key,
            limits.timeout.seconds if has_timeout else None,
            limits.timeout.nanos if has_timeout else None,
            limits.max_output_tokens,
            limits.max_concurrent_requests,
            *(
                getattr(limits, name).ToNanoseconds() if limits.HasField(name) else None
                for name in _OPTIONAL_DURATIONS
            ),
            limits.max_retries if limits.HasField("max_retries") else None,
            _options_blob(target),
        ),
    )


def _options_blob(target: common_pb2.ModelTarget) -> bytes | None:
    options = target.WhichOneof("platform_options")
    if options is None:
        return None
    holder = common_pb2.ModelTarget()
    getattr(holder, options).CopyFrom(getattr(target, options))
    return holder.SerializeToString()


def _delete_model(conn: sqlite3.Connection, name: str) -> None:
    if not conn.execute("SELECT 1 FROM models WHERE name = ?", (name,)).fetchone():
        raise NotFound(f"model {name!r} not found", metadata={"model": name})
    rows = conn.execute(
        "SELECT DISTINCT feature FROM feature_setting_models WHERE model = ? ORDER BY feature",
        (name,),
    ).fetchall()
    if rows:
        features = ", ".join(row[0] for row in rows)
        raise FailedPrecondition(
            f"model {name!r} is still used by feature(s) {features}; "
            "assign other models to them first",
            metadata={"model": name, "features": features},
        )
    conn.execute("DELETE FROM models WHERE name = ?", (name,))


def _replace_feature_setting(
    conn: sqlite3.Connection, setting: config_service_pb2.FeatureSetting
) -> None:
    _require_models(conn, setting.models)
    conn.execute(
        "INSERT INTO feature_settings (feature, disabled) VALUES (?, ?) "
        "ON CONFLICT (feature) DO UPDATE SET disabled = excluded.disabled",
        (setting.feature, int(setting.disabled)),
    )
    conn.execute("DELETE FROM feature_setting_models WHERE feature = ?", (setting.feature,))
    conn.executemany(
        "INSERT INTO feature_setting_models (feature, position, model) VALUES (?, ?, ?)",
        [(setting.feature, position, model) for position, model in enumerate(setting.models)],
    )


def _require_models(conn: sqlite3.Connection, names: Sequence[str]) -> None:
    if not names:
        return
    known = {
        row[0]
        for row in conn.execute(
            f"SELECT name FROM models WHERE name IN ({', '.join('?' * len(names))})",  # noqa: S608
            tuple(names),
        )
    }
    missing = [name for name in names if name not in known]
    if missing:
        listed = ", ".join(missing)
        raise FailedPrecondition(
            f"feature_setting.models: unknown model(s) {listed}; create them first",
            field="feature_setting.models",
            metadata={"models": listed},
        )


def _select_models(
    conn: sqlite3.Connection, *, after: str, limit: int
) -> list[config_service_pb2.Model]:
    rows = conn.execute(
        f"SELECT {_MODEL_COLUMNS} FROM models WHERE name > ? ORDER BY name LIMIT ?",  # noqa: S608
        (after, limit),
    )
    return [_model_from_row(row) for row in rows]


def _model_from_row(row: tuple[Any, ...]) -> config_service_pb2.Model:
    name, family, platform, endpoint, identifier, sealed, seconds, nanos, max_out, max_conc = row[
        :10
    ]
    *durations, max_retries, options = row[10:]
    limits = common_pb2.ModelLimits(max_output_tokens=max_out, max_concurrent_requests=max_conc)
    if seconds is not None:
        limits.timeout.seconds = seconds
        limits.timeout.nanos = nanos
    for duration_name, value in zip(_OPTIONAL_DURATIONS, durations, strict=True):
        if value is not None:
            getattr(limits, duration_name).FromNanoseconds(value)
    if max_retries is not None:
        limits.max_retries = max_retries
    target = common_pb2.ModelTarget(
        name=name,
        family=family,
        platform=platform,
        endpoint=endpoint,
        identifier=identifier,
        sealed_api_key=sealed,
        limits=limits,
    )
    if options is not None:
        target.MergeFromString(options)
    return config_service_pb2.Model(name=name, family=family, target=target)


def _select_features(
    conn: sqlite3.Connection, *, after: str, limit: int
) -> list[config_service_pb2.FeatureSetting]:
    settings = [
        config_service_pb2.FeatureSetting(feature=feature, disabled=bool(disabled))
        for feature, disabled in conn.execute(
            "SELECT feature, disabled FROM feature_settings WHERE feature > ? "
            "ORDER BY feature LIMIT ?",
            (after, limit),
        )
    ]
    if not settings:
        return settings
    by_feature = {setting.feature: setting for setting in settings}
    rows = conn.execute(
        "SELECT feature, model FROM feature_setting_models WHERE feature >= ? AND feature <= ? "
        "ORDER BY feature, position",
        (settings[0].feature, settings[-1].feature),
    )
    for feature, model in rows:
        by_feature[feature].models.append(model)
    return settings
