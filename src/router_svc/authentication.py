"""Authenticates every router call with the caller's JWT, verified in-process.

The interceptor only sees metadata, so it establishes *who* is calling (GitLab's rules included:
`x-gitlab-authentication-type` and the `x-gitlab-*` headers the REST shim forwards must agree
with the token); *what* they may do depends on the requested feature and is checked by the
servicer with `require_scope`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from aigw_common.errors import PermissionDenied
from aigw_common.gitlab_auth import authenticate
from aigw_common.interceptors.lifecycle import Call, Guard
from aigw_common.request_context import bind_caller, current_caller
from aigw_common.token_verifier import Principal, TokenVerifier

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context

_log = structlog.get_logger(__name__)

AUTH_BYPASS_WARNING = (
    "AUTHENTICATION IS OFF (AIGW_AUTH__BYPASS_EXTERNAL=true): every caller may use every "
    "feature without a token. Use this for trials only, never where anyone else can reach aigw."
)


def warn_if_bypassed(bypass: bool) -> None:
    """Log the bypass warning (at start; the REST shim repeats it on /monitoring/ready)."""
    if bypass:
        _log.warning(AUTH_BYPASS_WARNING, auth="bypassed")


class _AllScopes(frozenset[str]):
    """The scope set of the trial-mode caller: contains every scope."""

    def __contains__(self, scope: object) -> bool:
        return True


TRIAL_PRINCIPAL = Principal(
    subject="bypass-external",
    scopes=_AllScopes(),
    issuer="none (AIGW_AUTH__BYPASS_EXTERNAL=true)",
    expires_at=datetime.max.replace(tzinfo=UTC),
)


class Authentication(Guard):
    """Verifies `authorization: Bearer <JWT>` and binds the caller for the call.

    With `bypass` (AIGW_AUTH__BYPASS_EXTERNAL, trials only) every call runs as TRIAL_PRINCIPAL.
    """

    def __init__(self, verifier: TokenVerifier, *, bypass: bool) -> None:
        self._verifier = verifier
        self._bypass = bypass

    async def admit(self, call: Call, context: Context) -> None:
        if self._bypass:
            principal = TRIAL_PRINCIPAL
            structlog.contextvars.bind_contextvars(auth="bypassed")
        else:
            principal = await authenticate(self._verifier, call.metadata)
        bind_caller(principal)


def current_principal() -> Principal:
    """The caller this call was authenticated as; PermissionDenied outside an authenticated
    call (never expected: the interceptor runs first)."""
    principal = current_caller()
    if principal is None:
        raise PermissionDenied("no authenticated caller for this call")
    return principal


def require_scope(scope: str, feature: str) -> Principal:
    """The current caller, if its token grants `scope`; PermissionDenied otherwise."""
    principal = current_caller()
    if principal is None or scope not in principal.scopes:
        raise PermissionDenied(
            f"token does not grant scope {scope!r} needed for feature {feature!r}",
            metadata={"scope": scope, "feature": feature},
        )
    return principal
