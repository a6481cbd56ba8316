"""Sealing of model API keys: config_svc seals, only model_proxy_svc opens.

Keys are stored and sent between services only as Fernet tokens (AES-128-CBC + HMAC-SHA256).
The sealing key comes from AIGW_CREDENTIALS_KEY when set (e.g. from a secret store), else from
the key file, which is created with owner-only permissions on first use.
"""

from __future__ import annotations

import binascii
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from aigw_common.errors import FailedPrecondition
from aigw_common.private_files import create_exclusive, ensure_private_dir, read_private
from aigw_common.settings import Settings


def load_sealing_key(settings: Settings) -> bytes:
    """AIGW_CREDENTIALS_KEY if set (checked to be a Fernet key), else the key file's key."""
    if settings.credentials_key is None:
        if settings.cluster and not settings.sealing_key_path.exists():
            # A key of its own would leave this replica unable to open what others sealed.
            raise FailedPrecondition(
                "AIGW_CLUSTER=true: set AIGW_CREDENTIALS_KEY (from a Secret) or mount "
                f"{settings.sealing_key_path}; a replica never generates its own"
            )
        return load_or_create_key(settings.sealing_key_path)
    key = settings.credentials_key.get_secret_value().strip().encode()
    try:
        Fernet(key)
    except (ValueError, binascii.Error):
        # The message never quotes the value: it is the key.
        raise FailedPrecondition(
            "AIGW_CREDENTIALS_KEY is not a Fernet key (32 bytes, url-safe base64); generate "
            'one with: python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"'
        ) from None
    return key


def load_or_create_key(path: Path) -> bytes:
    """The Fernet key at `path`, created (mode 0600) if missing; concurrent starts agree."""
    if not path.exists():
        ensure_private_dir(path.parent)
        create_exclusive(path, Fernet.generate_key())
    return read_private(path).strip()


class SecretsBox:
    """Seals and opens short secrets with one key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken:
            raise FailedPrecondition(
                "a model's API key was sealed with a different credentials key; "
                "config_svc and model_proxy_svc must share AIGW_CREDENTIALS_KEY or "
                "AIGW_CREDENTIALS_KEY_FILE"
            ) from None
