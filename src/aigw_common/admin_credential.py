"""The credential that may ask auth_svc for tokens: held by auth_svc, by the `aigw` command and
by the services that mint their own service tokens at start (see service_token.py)."""

from __future__ import annotations

import secrets

import structlog

from aigw_common.errors import FailedPrecondition
from aigw_common.private_files import create_exclusive, read_private
from aigw_common.settings import Settings

_log = structlog.get_logger(__name__)

ADMIN_TOKEN_FILE = "admin.token"  # noqa: S105 (a file name)


def load_or_create_admin_credential(settings: Settings) -> str:
    """`AIGW_AUTH__ADMIN_CREDENTIAL` if set, else `<data_dir>/admin.token` (made on first use)."""
    if settings.auth.admin_credential is not None:
        configured = settings.auth.admin_credential.get_secret_value()
        if not configured.strip():
            raise FailedPrecondition("AIGW_AUTH__ADMIN_CREDENTIAL is set but empty")
        return configured
    path = settings.data_dir / ADMIN_TOKEN_FILE
    if not path.exists() and settings.cluster:
        # Each replica would invent a different one: nobody could call every replica.
        raise FailedPrecondition(
            "AIGW_CLUSTER=true: set AIGW_AUTH__ADMIN_CREDENTIAL (from a Secret) or mount "
            f"{path}; a replica never generates its own"
        )
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if create_exclusive(path, secrets.token_urlsafe(32).encode()):
            _log.info("generated the admin credential", path=str(path))
    try:
        credential = read_private(path).decode().strip()
    except UnicodeDecodeError:
        credential = ""  # the decode error would quote the file's bytes
    if not credential:
        raise FailedPrecondition(
            f"{path} holds no usable credential; remove it to generate a new one"
        )
    return credential
