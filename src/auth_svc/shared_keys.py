"""The signing keys in PostgreSQL, shared by every auth_svc replica.

Private keys are stored sealed with the credentials key (the one that seals model API keys), so
a database dump alone signs nothing. Every change (the first key set, a rotation, a retirement)
runs in one transaction holding the `signing_keyset` row lock, on the rows as they are then,
and sends a NOTIFY; every replica LISTENs and reloads, and also compares the generation every
few seconds in case a notification was lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
import structlog

from aigw_common.postgres import connect_postgres, postgres_options
from aigw_common.secrets_box import SecretsBox
from aigw_common.settings import DatabaseSettings
from auth_svc.keys import KeyRecord, KeyStore
from auth_svc.keyset_file import KeyState
from auth_svc.signing_key import Algorithm, SigningKey

KEYS_CHANNEL = "aigw_signing_keys"

_log = structlog.get_logger(__name__)

Pairs = list[tuple[KeyRecord, SigningKey]]


class SharedKeys:
    """The key set rows; each method opens its own short connection (changes are rare)."""

    def __init__(self, settings: DatabaseSettings, box: SecretsBox) -> None:
        self._settings = settings
        self._box = box

    def ensure(self, algorithm: Algorithm) -> None:
        """Create the first key set (an active and a next key) unless one exists."""

        def create(current: Pairs) -> Pairs:
            if current:
                return current
            now = datetime.now(UTC)
            active, upcoming = SigningKey.generate(algorithm), SigningKey.generate(algorithm)
            _log.info("generated shared signing keys", algorithm=algorithm, active_kid=active.kid)
            return [
                (KeyRecord(active.kid, algorithm, "", "active", now, activated_at=now), active),
                (KeyRecord(upcoming.kid, algorithm, "", "next", now), upcoming),
            ]

        self.change(create)

    def generation(self) -> int:
        with self._connect() as conn:
            row = conn.execute("SELECT generation FROM signing_keyset WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def read(self) -> Pairs:
        with self._connect() as conn:
            return self._rows(conn)

    def change(self, compute: Callable[[Pairs], Pairs]) -> Pairs:
        with self._connect() as conn, conn.transaction():
            conn.execute("SELECT generation FROM signing_keyset WHERE id = 1 FOR UPDATE")
            current = self._rows(conn)
            changed = compute(current)
            if changed is current:
                return current
            conn.execute("DELETE FROM signing_keys")
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO signing_keys (kid, algorithm, state, sealed_private_key, "
                    "created_at, activated_at, deactivated_at, retire_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    [self._row(record, key) for record, key in changed],
                )
            conn.execute("UPDATE signing_keyset SET generation = generation + 1 WHERE id = 1")
            conn.execute(
                "SELECT pg_notify(%s, (SELECT generation FROM signing_keyset WHERE id = 1)::text)",
                (KEYS_CHANNEL,),
            )
        return changed

    def _connect(self) -> psycopg.Connection[Any]:
        return connect_postgres(self._settings, autocommit=True)

    def _rows(self, conn: psycopg.Connection[Any]) -> Pairs:
        pairs = []
        for kid, algorithm, state, sealed, created, activated, deactivated, retire in conn.execute(
            "SELECT kid, algorithm, state, sealed_private_key, created_at, activated_at, "
            "deactivated_at, retire_at FROM signing_keys"
        ):
            alg = cast("Algorithm", algorithm)
            key = SigningKey.from_pem(
                self._box.open(bytes(sealed)).encode(), alg, where=f"{kid} in the database"
            )
            record = KeyRecord(
                kid=kid,
                algorithm=alg,
                file="",
                state=cast("KeyState", state),
                created_at=datetime.fromisoformat(created),
                activated_at=_moment(activated),
                deactivated_at=_moment(deactivated),
                retire_at=_moment(retire),
            )
            pairs.append((record, key))
        return pairs

    def _row(self, record: KeyRecord, key: SigningKey) -> tuple[Any, ...]:
        return (
            record.kid,
            record.algorithm,
            record.state,
            self._box.seal(key.to_pem().decode()),
            *(
                moment.isoformat() if moment is not None else None
                for moment in (
                    record.created_at,
                    record.activated_at,
                    record.deactivated_at,
                    record.retire_at,
                )
            ),
        )


async def follow_shared_keys(
    keys: KeyStore, shared: SharedKeys, settings: DatabaseSettings
) -> None:
    """Reload `keys` whenever another replica changes the key set: on its NOTIFY, and when a
    poll finds the generation moved. Runs until cancelled."""
    assert settings.url is not None
    known = await asyncio.to_thread(shared.generation)
    backoff_s = 0.1

    async def reload_if_changed() -> None:
        nonlocal known
        generation = await asyncio.to_thread(shared.generation)
        if generation != known:
            await asyncio.to_thread(keys.reload)
            known = generation
            _log.info("signing keys reloaded", generation=generation, active_kid=keys.active.kid)

    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                settings.url.get_secret_value(), autocommit=True, **postgres_options(settings)
            ) as conn:
                await conn.execute(f"LISTEN {KEYS_CHANNEL}")
                backoff_s = 0.1
                await reload_if_changed()
                while True:
                    async for _ in conn.notifies(timeout=settings.poll_interval_s, stop_after=1):
                        pass
                    await reload_if_changed()
        except (psycopg.Error, OSError) as error:
            _log.warning("signing key listener lost its connection", error=type(error).__name__)
        except Exception as error:  # a failed reload keeps the keys this replica has
            _log.warning("cannot reload signing keys", error=type(error).__name__)
        await asyncio.sleep(backoff_s)
        backoff_s = min(backoff_s * 2, settings.poll_interval_s)


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
