"""Models and feature settings persisted in SQLite or PostgreSQL, with a version that counts
every change.

All database work runs in worker threads (`asyncio.to_thread`) so the event loop never waits on
disk or network; one lock serialises use of the single connection. Every mutation bumps the
version in the same transaction as the change, so a version always names exactly one state; the
same transaction checks the version the caller expected (optimistic concurrency) and writes the
audit event naming who made the change. On PostgreSQL the same transaction also NOTIFYs every
replica of the new version (see change_feed.py).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw_common import catalog
from aigw_common.errors import Aborted, AlreadyExists, FailedPrecondition, NotFound
from aigw_common.settings import DatabaseSettings
from config_svc.database import Database, PostgresDatabase, SqliteDatabase
from config_svc.migrate import migrate, require_current

_T = TypeVar("_T")

_MODEL_COLUMNS = (
    "name, family, platform, endpoint, identifier, sealed_api_key, "
    "timeout_seconds, timeout_nanos, max_output_tokens, max_concurrent_requests, "
    "connect_timeout_nanos, first_token_timeout_nanos, idle_timeout_nanos, max_retries, "
    "platform_options, server_options"
)
_OPTIONAL_DURATIONS: tuple[
    Literal["connect_timeout", "first_token_timeout", "idle_timeout"], ...
] = (
    "connect_timeout",
    "first_token_timeout",
    "idle_timeout",
)


@dataclass(frozen=True)
class AuditEntry:
    """Who makes a change, through which RPC, and what it changes (one line per change)."""

    subject: str
    method: str
    changes: tuple[str, ...]


@dataclass(frozen=True)
class Mutation:
    """Options every change takes: the version it was based on (0: any) and its audit entry."""

    expected_version: int = 0
    audit: AuditEntry | None = None


_NO_OPTIONS = Mutation()
# LIMIT for "every row" that both databases accept.
_NO_LIMIT = 2**62


class ConfigStore:
    """The persisted configuration. Open with `await ConfigStore.open(path)`; close when done."""

    def __init__(self, conn: Database) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    async def open(cls, path: Path) -> ConfigStore:
        """Open (creating and migrating as needed) the SQLite database at `path`."""
        return await cls.open_database(DatabaseSettings(), path)

    @classmethod
    async def open_database(
        cls, settings: DatabaseSettings, sqlite_path: Path, *, migrate_first: bool = True
    ) -> ConfigStore:
        """Open PostgreSQL (`settings.url`) or else SQLite at `sqlite_path`, migrating it first
        unless told not to (then it must already be migrated: `aigw db migrate`)."""

        def connect() -> Database:
            if migrate_first:
                migrate(settings, sqlite_path)
            else:
                require_current(settings, sqlite_path)
            if settings.url is not None:
                return PostgresDatabase(settings)
            return SqliteDatabase(sqlite_path)

        return cls(await asyncio.to_thread(connect))

    async def current_version(self) -> int:
        """The version alone (cheap: what replicas poll)."""
        return await self._run(lambda: _version(self._conn))

    async def close(self) -> None:
        await self._run(self._conn.close)

    async def load_snapshot(self) -> config_service_pb2.ConfigSnapshot:
        """The whole configuration, read in one transaction."""
        return await self._run(self._load_snapshot)

    async def create_model(
        self, model: config_service_pb2.Model, options: Mutation = _NO_OPTIONS
    ) -> int:
        """Store a new model; AlreadyExists if the name is taken. Returns the new version."""
        return await self._mutate(lambda conn: _insert_model(conn, model), options)

    async def delete_model(self, name: str, options: Mutation = _NO_OPTIONS) -> int:
        """Remove a model; NotFound if unknown, FailedPrecondition if a feature uses it."""
        return await self._mutate(lambda conn: _delete_model(conn, name), options)

    async def set_feature_setting(
        self, setting: config_service_pb2.FeatureSetting, options: Mutation = _NO_OPTIONS
    ) -> int:
        """Replace a feature's setting; FailedPrecondition if it names an unknown model or a
        model whose family cannot serve the feature."""
        return await self._mutate(lambda conn: _replace_feature_setting(conn, setting), options)

    async def set_request_logging(self, enabled: bool, options: Mutation = _NO_OPTIONS) -> int:
        """Switch expanded logging on or off. Returns the new version."""

        def switch(conn: Database) -> None:
            conn.execute(
                "UPDATE config_version SET request_logging = ? WHERE id = 1", (int(enabled),)
            )

        return await self._mutate(switch, options)

    async def transact(
        self,
        work: Callable[[Database, config_service_pb2.ConfigSnapshot], _T],
        changed: Callable[[_T], AuditEntry | None],
        *,
        expected_version: int = 0,
        validate_only: bool = False,
    ) -> tuple[_T, int]:
        """Run `work` on the current configuration in one write transaction and return its
        result with the version after it. The version moves (and an audit event is written)
        only when `changed(result)` returns an entry; with `validate_only` nothing is kept."""

        def transaction() -> tuple[_T, int]:
            conn = self._conn
            conn.begin_write()
            try:
                _check_expected(conn, expected_version)
                result = work(conn, self._snapshot(conn))
                audit = changed(result)
                if audit is None or validate_only:
                    version = _version(conn)
                    conn.rollback()
                    return result, version
                version = _bump(conn, audit)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            return result, version

        return await self._run(transaction)

    async def list_audit_events(
        self, *, before: int, limit: int
    ) -> list[config_service_pb2.AuditEvent]:
        """Up to `limit` audit events with versions below `before` (0: all), newest first."""
        return await self._run(lambda: _select_audit(self._conn, before=before, limit=limit))

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

    async def _mutate(
        self, change: Callable[[Database], None], options: Mutation = _NO_OPTIONS
    ) -> int:
        def transaction() -> int:
            conn = self._conn
            conn.begin_write()
            try:
                _check_expected(conn, options.expected_version)
                change(conn)
                version = _bump(conn, options.audit)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            return version

        return await self._run(transaction)

    def _load_snapshot(self) -> config_service_pb2.ConfigSnapshot:
        conn = self._conn
        conn.begin_read()
        try:
            snapshot = self._snapshot(conn)
        finally:
            conn.rollback()
        return snapshot

    @staticmethod
    def _snapshot(conn: Database) -> config_service_pb2.ConfigSnapshot:
        return config_service_pb2.ConfigSnapshot(
            version=_version(conn),
            models=_select_models(conn, after="", limit=_NO_LIMIT),
            feature_settings=_select_features(conn, after="", limit=_NO_LIMIT),
            request_logging=bool(
                conn.execute("SELECT request_logging FROM config_version WHERE id = 1").fetchone()[
                    0
                ]
            ),
        )


def _version(conn: Database) -> int:
    version: int = conn.execute("SELECT version FROM config_version WHERE id = 1").fetchone()[0]
    return version


def _check_expected(conn: Database, expected: int) -> None:
    if expected and (current := _version(conn)) != expected:
        raise Aborted(
            f"expected_version: the configuration changed since version {expected} (it is now at "
            f"{current}); read it again and retry",
            field="expected_version",
            metadata={"expected_version": str(expected), "version": str(current)},
        )


def _bump(conn: Database, audit: AuditEntry | None) -> int:
    """Move to the next version and record who made the change."""
    conn.execute("UPDATE config_version SET version = version + 1 WHERE id = 1")
    version = _version(conn)
    conn.announce(version)
    if audit is not None:
        conn.execute(
            "INSERT INTO audit_events (version, at_unix_ms, subject, method, changes) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                version,
                int(time.time() * 1000),
                audit.subject,
                audit.method,
                json.dumps(list(audit.changes)),
            ),
        )
    return version


def _select_audit(
    conn: Database, *, before: int, limit: int
) -> list[config_service_pb2.AuditEvent]:
    events = []
    for version, at_ms, subject, method, changes in conn.execute(
        "SELECT version, at_unix_ms, subject, method, changes FROM audit_events "
        "WHERE ? = 0 OR version < ? ORDER BY version DESC LIMIT ?",
        (before, before, limit),
    ):
        event = config_service_pb2.AuditEvent(
            version=version, subject=subject, method=method, changes=json.loads(changes)
        )
        event.time.FromMilliseconds(at_ms)
        events.append(event)
    return events


def _insert_model(conn: Database, model: config_service_pb2.Model) -> None:
    if conn.execute("SELECT 1 FROM models WHERE name = ?", (model.name,)).fetchone():
        raise AlreadyExists(f"model {model.name!r} already exists", metadata={"model": model.name})
    target = model.target
    limits = target.limits
    has_timeout = limits.HasField("timeout")
    conn.execute(
        f"INSERT INTO models ({_MODEL_COLUMNS}) "  # noqa: S608
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            _server_options_blob(target),
        ),
    )
    if model.api_key_env:
        conn.execute(
            "INSERT INTO model_api_key_env (model, env_var) VALUES (?, ?)",
            (model.name, model.api_key_env),
        )


def _server_options_blob(target: common_pb2.ModelTarget) -> bytes | None:
    holder = common_pb2.ModelTarget(completion_api=target.completion_api)
    holder.limits.max_stop_sequences = target.limits.max_stop_sequences
    holder.limits.context_tokens = target.limits.context_tokens
    return holder.SerializeToString() or None


def _options_blob(target: common_pb2.ModelTarget) -> bytes | None:
    options = target.WhichOneof("platform_options")
    if options is None:
        return None
    holder = common_pb2.ModelTarget()
    getattr(holder, options).CopyFrom(getattr(target, options))
    return holder.SerializeToString()


def _delete_model(conn: Database, name: str) -> None:
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


def _replace_feature_setting(conn: Database, setting: config_service_pb2.FeatureSetting) -> None:
    _require_models(conn, setting.models, setting.feature)
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


def _require_models(conn: Database, names: Sequence[str], feature: str) -> None:
    """Every model exists and its family can serve `feature`."""
    if not names:
        return
    known = {
        row[0]: row[1]
        for row in conn.execute(
            f"SELECT name, family FROM models WHERE name IN ({', '.join('?' * len(names))})",  # noqa: S608
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
    for name in names:
        catalog.check_assignment(feature, name, known[name], field="feature_setting.models")


def _select_models(conn: Database, *, after: str, limit: int) -> list[config_service_pb2.Model]:
    rows = conn.execute(
        f"SELECT {_MODEL_COLUMNS} FROM models WHERE name > ? ORDER BY name LIMIT ?",  # noqa: S608
        (after, limit),
    )
    models = [_model_from_row(row) for row in rows]
    if models:
        by_name = {model.name: model for model in models}
        for name, env_var in conn.execute(
            "SELECT model, env_var FROM model_api_key_env WHERE model >= ? AND model <= ?",
            (models[0].name, models[-1].name),
        ):
            if name in by_name:
                by_name[name].api_key_env = env_var
    return models


def _model_from_row(row: tuple[Any, ...]) -> config_service_pb2.Model:
    name, family, platform, endpoint, identifier, sealed, seconds, nanos, max_out, max_conc = row[
        :10
    ]
    *durations, max_retries, options, server_options = row[10:]
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
    if server_options is not None:
        target.MergeFromString(server_options)
    return config_service_pb2.Model(name=name, family=family, target=target)


def _select_features(
    conn: Database, *, after: str, limit: int
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
