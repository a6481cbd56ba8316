from __future__ import annotations

import stat

import pytest
from pydantic import SecretStr

from aigw_common.admin_credential import ADMIN_TOKEN_FILE, load_or_create_admin_credential
from aigw_common.errors import FailedPrecondition
from aigw_common.settings import AuthSettings, Settings


def test_a_configured_credential_is_used_and_nothing_is_written(settings: Settings) -> None:
    configured = settings.model_copy(
        update={"auth": AuthSettings(admin_credential=SecretStr("configured-secret"))}
    )

    assert load_or_create_admin_credential(configured) == "configured-secret"
    assert not (settings.data_dir / ADMIN_TOKEN_FILE).exists()


def test_without_one_a_credential_is_generated_once_with_owner_only_access(
    settings: Settings,
) -> None:
    first = load_or_create_admin_credential(settings)

    path = settings.data_dir / ADMIN_TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 40
    assert path.read_text() == first
    assert load_or_create_admin_credential(settings) == first


def test_an_empty_credential_file_is_refused(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / ADMIN_TOKEN_FILE).write_bytes(b"\n")

    with pytest.raises(FailedPrecondition, match="remove it"):
        load_or_create_admin_credential(settings)
