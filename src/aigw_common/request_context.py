"""Per-request context carried across services in gRPC metadata.

The correlation id comes from the client's `X-Request-ID` (or is generated), is bound into
every log line, travels to every downstream aigw service and on to the model server.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar

REQUEST_ID_KEY = "x-request-id"
SUBJECT_KEY = "x-aigw-subject"
_MAX_REQUEST_ID_LENGTH = 128

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
subject_var: ContextVar[str | None] = ContextVar("subject", default=None)


def new_request_id() -> str:
    """A fresh correlation id."""
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The caller's correlation id if it is usable in gRPC metadata and logs, else a fresh one."""
    if value and len(value) <= _MAX_REQUEST_ID_LENGTH and value.isascii() and value.isprintable():
        return value
    return new_request_id()
