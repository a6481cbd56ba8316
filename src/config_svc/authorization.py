"""Who may call ConfigService: a verified bearer token with the scope the method needs.

Changes and the audit trail need `aigw_admin`; reads and WatchConfig need `aigw_config_read` or
`aigw_admin`. Tokens are verified in-process with auth_svc's cached public keys. The token's
subject becomes the request's subject, which the audit trail records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc
import structlog

from aigw_common import scopes
from aigw_common.errors import PermissionDenied
from aigw_common.interceptors._wrapping import wrap_handler
from aigw_common.request_context import subject_var
from aigw_common.token_verifier import TokenVerifier, authorization_from_metadata

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aigw_common.grpc_types import Context, Continuation, Handler, StreamBehavior, UnaryBehavior

_SERVICE_PREFIX = "/aigw.config.v1.ConfigService/"
_READ_METHODS = frozenset({"ListModels", "ListFeatureSettings", "GetConfig", "WatchConfig"})
# Load balancers and tooling call these without a token.
_OPEN_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")
# Who changes things when authentication is bypassed (trials only).
BYPASS_SUBJECT = "bypass-external"


def required_scopes(method: str) -> frozenset[str]:
    """The scopes of which a caller of `method` (a full gRPC method path) needs one."""
    name = method.removeprefix(_SERVICE_PREFIX)
    if name in _READ_METHODS:
        return frozenset({scopes.CONFIG_READ, scopes.ADMIN})
    return frozenset({scopes.ADMIN})


class ConfigAuthorizationInterceptor(grpc.aio.ServerInterceptor):
    """Verifies `authorization: Bearer <JWT>` and the method's scope before the servicer runs.

    With `bypass` (AIGW_AUTH__BYPASS_EXTERNAL, trials only) every call is allowed.
    """

    def __init__(self, verifier: TokenVerifier, *, bypass: bool) -> None:
        self._verifier = verifier
        self._bypass = bypass

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if method.startswith(_OPEN_PREFIXES):
            return handler
        needed = required_scopes(method)
        return wrap_handler(
            handler,
            unary=lambda behavior: self._unary(behavior, method, needed),
            stream=lambda behavior: self._stream(behavior, method, needed),
        )

    async def _authorize(self, context: Context, method: str, needed: frozenset[str]) -> None:
        if self._bypass:
            subject_var.set(BYPASS_SUBJECT)
            return
        principal = await self._verifier.verify_bearer(
            authorization_from_metadata(context.invocation_metadata())
        )
        subject_var.set(principal.subject)
        structlog.contextvars.bind_contextvars(subject=principal.subject)
        if not needed & principal.scopes:
            wanted = " or ".join(repr(scope) for scope in sorted(needed))
            raise PermissionDenied(
                f"token does not grant scope {wanted} needed for {method.rsplit('/', 1)[-1]}",
                metadata={"scopes": ",".join(sorted(needed)), "method": method},
            )

    def _unary(self, behavior: UnaryBehavior, method: str, needed: frozenset[str]) -> UnaryBehavior:
        async def wrapped(request: Any, context: Context) -> Any:
            await self._authorize(context, method, needed)
            return await behavior(request, context)

        return wrapped

    def _stream(
        self, behavior: StreamBehavior, method: str, needed: frozenset[str]
    ) -> StreamBehavior:
        async def wrapped(request: Any, context: Context) -> AsyncIterator[Any]:
            await self._authorize(context, method, needed)
            async for response in behavior(request, context):
                yield response

        return wrapped
