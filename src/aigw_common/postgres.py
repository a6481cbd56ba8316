"""Connections to the PostgreSQL every replica shares (config store, signing keys): aigw's
timeouts on each, and one way to report it unreachable."""

from __future__ import annotations

from typing import Any

import psycopg

from aigw_common.errors import UpstreamUnavailable
from aigw_common.settings import DatabaseSettings


def connect_postgres(settings: DatabaseSettings, *, autocommit: bool) -> psycopg.Connection[Any]:
    """A connection with aigw's timeouts; UpstreamUnavailable (never quoting the URL) if the
    server cannot be reached."""
    assert settings.url is not None
    try:
        return psycopg.connect(
            settings.url.get_secret_value(),
            autocommit=autocommit,
            **postgres_options(settings),
        )
    except psycopg.OperationalError as error:
        raise database_unavailable() from error


def postgres_options(settings: DatabaseSettings) -> dict[str, Any]:
    """Connection keywords bounding every wait: connecting, each statement, each lock."""
    statement_ms = int(settings.statement_timeout_s * 1000)
    return {
        "connect_timeout": max(1, round(settings.connect_timeout_s)),
        "options": f"-c statement_timeout={statement_ms} -c lock_timeout={statement_ms}",
        "application_name": "aigw",
    }


def database_unavailable() -> UpstreamUnavailable:
    # The driver's message can quote the host and user: say only what the operator must check.
    return UpstreamUnavailable(
        "the configuration database (AIGW_DATABASE__URL) is unreachable; the last "
        "configuration keeps being served, changes fail until it is back",
        reason="DATABASE_UNAVAILABLE",
    )
