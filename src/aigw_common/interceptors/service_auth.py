"""Server side of internal authentication: who may call config_svc and model_proxy_svc.

Every call must carry an aigw-issued token (never an external issuer's) granting one of the
scopes its method needs, as the service's `policy` says; health and reflection stay open for
load balancers and tooling. The verified caller is known for the rest of the call
(`request_context.current_caller`): config_svc's audit trail records its subject, never a
claim the caller made in metadata. A service sends the same token for up to an hour; the verifier
remembers verified tokens (aigw_common.verified_tokens), so the hot path does not verify it
again on every call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from aigw_common.errors import PermissionDenied
from aigw_common.interceptors.lifecycle import Call, Guard
from aigw_common.request_context import bind_caller
from aigw_common.token_verifier import AUTHORIZATION_KEY, TokenVerifier, bearer_token

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context

_log = structlog.get_logger(__name__)

# The scopes of which a caller of a method (its full gRPC path) needs one.
ScopePolicy = Callable[[str], frozenset[str]]


def any_method(*scopes: str) -> ScopePolicy:
    """A policy asking the same scopes of every method."""
    accepted = frozenset(scopes)
    return lambda _method: accepted


class ServiceAuth:
    """How an internal service admits callers: a required argument of its `build_server`, so
    an entry point cannot leave authentication out by forgetting it.

    `ServiceAuth(verifier)` admits holders of aigw tokens granting the method's scopes; the
    only other choice, `ServiceAuth.disabled_for_tests()`, admits anyone and says so in the log.
    """

    def __init__(self, verifier: TokenVerifier) -> None:
        if any(issuer.kind != "aigw" for issuer in verifier.issuers):
            raise ValueError("internal calls may only be authenticated by aigw's own tokens")
        self._verifier: TokenVerifier | None = verifier

    @classmethod
    def disabled_for_tests(cls) -> ServiceAuth:
        """No authentication at all: for tests that exercise a service's own behaviour only."""
        auth = cls.__new__(cls)
        auth._verifier = None
        return auth

    def guards(self, policy: ScopePolicy, service: str) -> list[Guard]:
        """The guards enforcing `policy` on `service`'s calls (none when disabled)."""
        if self._verifier is None:
            _log.warning("service authentication is OFF (tests only)", service=service)
            return []
        return [ServiceAuthGuard(self._verifier, policy)]


class ServiceAuthGuard(Guard):
    """Admits calls whose aigw token grants one of the scopes `policy` names for the method.

    UNAUTHENTICATED without a valid token, PERMISSION_DENIED with one that grants none of them.
    """

    def __init__(self, verifier: TokenVerifier, policy: ScopePolicy) -> None:
        self._verifier = verifier
        self._policy = policy

    async def admit(self, call: Call, context: Context) -> None:
        principal = await self._verifier.verify(bearer_token(call.metadata.get(AUTHORIZATION_KEY)))
        bind_caller(principal)
        needed = self._policy(call.method)
        if not principal.scopes & needed:
            wanted = " or ".join(repr(scope) for scope in sorted(needed))
            raise PermissionDenied(
                f"{call.name} needs a token granting {wanted}; aigw's own "
                "services and the `aigw` command hold such tokens",
                metadata={"scopes": ",".join(sorted(needed)), "method": call.method},
            )
