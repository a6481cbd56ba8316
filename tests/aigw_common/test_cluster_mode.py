"""Cluster mode: a replica refuses to start rather than invent a secret the others lack."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from aigw_common.admin_credential import load_or_create_admin_credential
from aigw_common.errors import FailedPrecondition
from aigw_common.secrets_box import load_sealing_key
from aigw_common.settings import AuthSettings, Settings
from auth_svc.keys import KeyStore
from auth_svc.server import load_dependencies
from auth_svc.signing_key import SigningKey


def _cluster(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(cluster=True, data_dir=tmp_path / "data", **overrides)  # type: ignore[arg-type]


def test_no_admin_credential_is_generated(tmp_path: Path) -> None:
    with pytest.raises(FailedPrecondition, match="AIGW_AUTH__ADMIN_CREDENTIAL"):
        load_or_create_admin_credential(_cluster(tmp_path))

    assert not (tmp_path / "data").exists()
    given = _cluster(tmp_path, auth=AuthSettings(admin_credential=SecretStr("from-a-secret")))
    assert load_or_create_admin_credential(given) == "from-a-secret"


def test_no_sealing_key_is_generated(tmp_path: Path) -> None:
    with pytest.raises(FailedPrecondition, match="AIGW_CREDENTIALS_KEY"):
        load_sealing_key(_cluster(tmp_path))

    key = Fernet.generate_key()
    assert load_sealing_key(_cluster(tmp_path, credentials_key=SecretStr(key.decode()))) == key


async def test_no_signing_keys_are_generated_without_a_shared_store(tmp_path: Path) -> None:
    settings = _cluster(tmp_path, auth=AuthSettings(admin_credential=SecretStr("x")))

    with pytest.raises(FailedPrecondition, match="AIGW_DATABASE__URL"):
        await load_dependencies(settings)

    assert not (tmp_path / "data" / "keys").exists()


async def test_mounted_signing_keys_are_read_never_written(tmp_path: Path) -> None:
    # The key set as an operator would put it in a Secret: made once, elsewhere.
    KeyStore.load_or_create(tmp_path / "data", "ES256")
    keys_dir = tmp_path / "data" / "keys"
    before = {path.name: path.stat().st_mtime_ns for path in keys_dir.iterdir()}
    settings = _cluster(tmp_path, auth=AuthSettings(admin_credential=SecretStr("x")))

    keys, _ = await load_dependencies(settings)

    with pytest.raises(FailedPrecondition, match="mounted read-only"):
        keys.rotate(SigningKey.generate("ES256"), retention_s=60, min_interval_s=0)
    assert keys.retire_expired() == []
    assert {path.name: path.stat().st_mtime_ns for path in keys_dir.iterdir()} == before
