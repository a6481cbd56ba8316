"""The credential that may ask auth_svc for tokens: held by auth_svc, by the `aigw` command and
by the services that mint their own service tokens at start (see service_token.py)."""

from __future__ import annotations

import secrets

import structlog

from aigw_common.errors import FailedPrecondition
from aigw_common.private_files import create_exclusive, ensure_private_dir, read_private
from aigw_common.settings import Settings

_log = structlog.get_logger(__name__)

ADMIN_TOKEN_FILE = "admin.token"  # noqa: S105 (a file name)


def load_or_create_admin_credential(settings: Settings) -> str:
    """`AIGW_AUTH__ADMIN_CREDENTIAL` if set, else `<data_dir>/admin.token` (made on first use,
    by the services: auth_svc checks it, the others mint their service tokens with it)."""
    path = settings.data_dir / ADMIN_TOKEN_FILE
    # A cluster replica never makes one (load_admin_credential says so).
    if settings.auth.admin_credential is None and not settings.cluster and not path.exists():
        ensure_private_dir(settings.data_dir)
        if create_exclusive(path, secrets.token_urlsafe(32).encode()):
            _log.info("generated the admin credential", path=str(path))
    return load_admin_credential(settings)


def load_admin_credential(settings: Settings) -> str:
    """The admin credential the suite uses, never a new one (for the `aigw` command: one that
    no service knows would only fail later, and leave a stray secret behind)."""
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
        raise FailedPrecondition(
            f"no admin credential at {path}: the suite keeps it in the data directory it was "
            "started with (`make run`: ./.aigw, which aigw uses when run in that directory); "
            "set AIGW_DATA_DIR to that directory, or AIGW_AUTH__ADMIN_CREDENTIAL"
        )
    try:
        credential = read_private(path).decode().strip()
    except UnicodeDecodeError:
        credential = ""  # the decode error would quote the file's bytes
    if not credential:
        raise FailedPrecondition(
            f"{path} holds no usable credential; remove it to generate a new one"
        )
    return credential
