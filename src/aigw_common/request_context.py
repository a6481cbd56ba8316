"""Per-request context: the correlation id carried across services, and the verified caller.

The correlation id comes from the client's `X-Request-ID` (or is generated), is bound into
every log line, travels to every downstream aigw service and on to the model server.

The caller is known only from a token this service verified itself (the router's
authentication of a user, or an internal service's token): it is never taken from metadata a
caller wrote, and never forwarded — the next service verifies its own caller.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from aigw_common.token_verifier import Principal

REQUEST_ID_KEY = "x-request-id"
_MAX_REQUEST_ID_LENGTH = 128

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_caller_var: ContextVar[Principal | None] = ContextVar("caller", default=None)


def bind_caller(principal: Principal) -> None:
    """Make `principal`, whose token was just verified, the caller of the call being served
    (and name its subject in every log line of the call)."""
    _caller_var.set(principal)
    structlog.contextvars.bind_contextvars(subject=principal.subject)


def current_caller() -> Principal | None:
    """The verified caller of the call being served; None where no authentication ran."""
    return _caller_var.get()


def new_request_id() -> str:
    """A fresh correlation id."""
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The caller's correlation id if it is usable in gRPC metadata and logs, else a fresh one."""
    if value and len(value) <= _MAX_REQUEST_ID_LENGTH and value.isascii() and value.isprintable():
        return value
    return new_request_id()
