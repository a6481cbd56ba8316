"""Signing keys shared by auth_svc replicas through a real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from aigw_common.secrets_box import SecretsBox
from aigw_common.settings import DatabaseSettings
from auth_svc.keys import KeyStore
from auth_svc.shared_keys import SharedKeys, follow_shared_keys
from auth_svc.signing_key import SigningKey
from config_svc.migrate import migrate
from tests.polling import eventually


@pytest.fixture
def database(postgres_url: str, tmp_path: Path) -> DatabaseSettings:
    settings = DatabaseSettings(url=SecretStr(postgres_url), poll_interval_s=30)
    migrate(settings, tmp_path / "unused.sqlite3")
    return settings


@pytest.fixture
def storage(database: DatabaseSettings) -> SharedKeys:
    shared = SharedKeys(database, SecretsBox(Fernet.generate_key()))
    shared.ensure("ES256")
    return shared


def test_replicas_start_with_one_key_set(storage: SharedKeys) -> None:
    storage.ensure("ES256")  # a second replica starting: nothing new
    first, second = KeyStore.shared(storage), KeyStore.shared(storage)

    assert first.jwks() == second.jwks()
    assert len(first.keys) == 2


def test_a_stale_replica_rotates_from_the_stored_key_set_not_its_copy(
    storage: SharedKeys,
) -> None:
    first, stale = KeyStore.shared(storage), KeyStore.shared(storage)
    original_active = first.active.kid

    first.rotate(SigningKey.generate("ES256"), retention_s=3600, min_interval_s=0)
    promoted_by_first = first.active.kid
    stale.rotate(SigningKey.generate("ES256"), retention_s=3600, min_interval_s=0)
    first.reload()

    # The second rotation continued the first: nothing was lost or undone.
    assert first.jwks() == stale.jwks()
    states = {record.kid: record.state for record in stale.records()}
    assert states[original_active] == "retiring"
    assert states[promoted_by_first] == "retiring"
    assert list(states.values()).count("active") == 1
    assert len(states) == 4


def test_the_minimum_interval_is_checked_against_every_replicas_rotation(
    storage: SharedKeys,
) -> None:
    first, stale = KeyStore.shared(storage), KeyStore.shared(storage)
    first.rotate(SigningKey.generate("ES256"), retention_s=3600, min_interval_s=0)

    with pytest.raises(Exception, match="changed less than"):
        stale.rotate(SigningKey.generate("ES256"), retention_s=3600, min_interval_s=60)


def test_private_keys_are_stored_sealed(storage: SharedKeys, database: DatabaseSettings) -> None:
    assert database.url is not None
    with psycopg.connect(database.url.get_secret_value()) as conn:
        blobs = [
            bytes(row[0]) for row in conn.execute("SELECT sealed_private_key FROM signing_keys")
        ]

    assert len(blobs) == 2
    assert not any(b"PRIVATE KEY" in blob for blob in blobs)


async def test_other_replicas_reload_on_notify(
    storage: SharedKeys, database: DatabaseSettings
) -> None:
    rotating, following = KeyStore.shared(storage), KeyStore.shared(storage)
    task = asyncio.create_task(follow_shared_keys(following, storage, database))
    try:
        await asyncio.sleep(0.5)  # listening
        await asyncio.to_thread(
            rotating.rotate, SigningKey.generate("ES256"), retention_s=3600, min_interval_s=0
        )
        await eventually(lambda: following.active.kid == rotating.active.kid, timeout_s=5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    assert following.jwks() == rotating.jwks()
