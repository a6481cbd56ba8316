"""The SQLite schema and its migrations, keyed on `PRAGMA user_version`.

Each step is applied once, in its own transaction, and moves `user_version` to its position in
`MIGRATIONS` (1-based). Never edit a released step: append a new one.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[tuple[str, ...]] = [
    # 1: models, feature settings and the configuration version.
    (
        # A single row; a fresh store is at version 1 so that 0 always means "nothing yet".
        """CREATE TABLE config_version (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version INTEGER NOT NULL
        )""",
        "INSERT INTO config_version (id, version) VALUES (1, 1)",
        """CREATE TABLE models (
            name TEXT PRIMARY KEY,
            family TEXT NOT NULL,
            platform INTEGER NOT NULL,
            endpoint TEXT NOT NULL,
            identifier TEXT NOT NULL,
            sealed_api_key BLOB NOT NULL,
            timeout_seconds INTEGER,
            timeout_nanos INTEGER,
            max_output_tokens INTEGER NOT NULL,
            max_concurrent_requests INTEGER NOT NULL
        )""",
        """CREATE TABLE feature_settings (
            feature TEXT PRIMARY KEY,
            disabled INTEGER NOT NULL
        )""",
        """CREATE TABLE feature_setting_models (
            feature TEXT NOT NULL REFERENCES feature_settings (feature) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            model TEXT NOT NULL REFERENCES models (name),
            PRIMARY KEY (feature, position),
            UNIQUE (feature, model)
        )""",
        "CREATE INDEX feature_setting_models_by_model ON feature_setting_models (model)",
    ),
    # 2: the audit trail, and where each model's API key was referenced from.
    (
        # One row per change, keyed by the configuration version the change produced.
        """CREATE TABLE audit_events (
            version INTEGER PRIMARY KEY,
            at_unix_ms INTEGER NOT NULL,
            subject TEXT NOT NULL,
            method TEXT NOT NULL,
            changes TEXT NOT NULL
        )""",
        """CREATE TABLE model_api_key_env (
            model TEXT PRIMARY KEY REFERENCES models (name) ON DELETE CASCADE,
            env_var TEXT NOT NULL
        )""",
    ),
    # 3: per-model connect / first-token / idle timeouts (nanoseconds; NULL = the proxy's
    # default), retry count (NULL = default), and the platform's options: a serialized
    # ModelTarget holding only its `platform_options` oneof (NULL = none).
    (
        "ALTER TABLE models ADD COLUMN connect_timeout_nanos INTEGER",
        "ALTER TABLE models ADD COLUMN first_token_timeout_nanos INTEGER",
        "ALTER TABLE models ADD COLUMN idle_timeout_nanos INTEGER",
        "ALTER TABLE models ADD COLUMN max_retries INTEGER",
        "ALTER TABLE models ADD COLUMN platform_options BLOB",
    ),
    # 4: expanded logging switched on at runtime (`aigw logging request-logging on`).
    ("ALTER TABLE config_version ADD COLUMN request_logging INTEGER NOT NULL DEFAULT 0",),
    # 5: what the model's server accepts: a serialized ModelTarget holding only
    # limits.max_stop_sequences, limits.context_tokens and completion_api (NULL = none set).
    ("ALTER TABLE models ADD COLUMN server_options BLOB",),
]


class SchemaTooNew(RuntimeError):
    """The database was written by a newer config_svc; refuse rather than misread it."""


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the steps `conn` has not seen yet; return the schema version it is at now.

    `conn` must be in autocommit mode (isolation_level=None) so the transactions here are ours.
    """
    for number, statements in enumerate(MIGRATIONS, start=1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read inside the write transaction: another process may have just migrated.
            current = _user_version(conn)
            if current > len(MIGRATIONS):
                raise SchemaTooNew(
                    f"config database schema version {current} is newer than this config_svc "
                    f"understands ({len(MIGRATIONS)}); upgrade config_svc"
                )
            if current < number:
                for statement in statements:
                    conn.execute(statement)
                # PRAGMA takes no parameters; `number` is our own int.
                conn.execute(f"PRAGMA user_version = {number:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return _user_version(conn)


def _user_version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version
