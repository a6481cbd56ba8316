"""Sealing of model API keys: config_svc seals, only model_proxy_svc opens.

Keys are stored and sent between services only as Fernet tokens (AES-128-CBC + HMAC-SHA256).
The key file is created with owner-only permissions on first use.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from aigw_common.errors import FailedPrecondition
from aigw_common.private_files import create_exclusive, ensure_private_dir, read_private


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
                "config_svc and model_proxy_svc must share AIGW_CREDENTIALS_KEY_FILE"
            ) from None
