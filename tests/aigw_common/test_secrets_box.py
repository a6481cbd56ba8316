"""The sealing key for model credentials: from AIGW_CREDENTIALS_KEY, else from its file."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from aigw_common.errors import FailedPrecondition
from aigw_common.secrets_box import SecretsBox, load_sealing_key
from aigw_common.settings import Settings
from tests.leak_scan import remember


def test_the_key_from_the_environment_wins_and_no_file_is_written(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = remember(Fernet.generate_key().decode())
    monkeypatch.setenv("AIGW_CREDENTIALS_KEY", key)
    from_env = Settings(data_dir=settings.data_dir)

    assert load_sealing_key(from_env) == key.encode()
    assert not from_env.sealing_key_path.exists()
    sealed = SecretsBox(load_sealing_key(from_env)).seal("sk-env-sealed")
    assert Fernet(key.encode()).decrypt(sealed) == b"sk-env-sealed"


def test_without_it_the_key_file_is_created_once_and_reused(settings: Settings) -> None:
    first = load_sealing_key(settings)

    assert settings.sealing_key_path.exists()
    assert load_sealing_key(settings) == first


@pytest.mark.parametrize("value", ["too-short", "x" * 44, " "])
def test_a_key_that_is_not_a_fernet_key_is_refused_without_quoting_it(
    settings: Settings, value: str
) -> None:
    configured = settings.model_copy(update={"credentials_key": SecretStr(value)})
    with pytest.raises(FailedPrecondition) as raised:
        load_sealing_key(configured)
    assert "AIGW_CREDENTIALS_KEY is not a Fernet key" in raised.value.message
    if value.strip():
        assert value not in raised.value.message


def test_a_box_with_another_key_cannot_open_and_says_how_to_fix_it() -> None:
    sealed = SecretsBox(Fernet.generate_key()).seal("sk-other-box")
    fix = "AIGW_CREDENTIALS_KEY or AIGW_CREDENTIALS_KEY_FILE"
    with pytest.raises(FailedPrecondition, match=fix):
        SecretsBox(Fernet.generate_key()).open(sealed)
