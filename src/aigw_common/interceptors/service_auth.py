"""Server side of internal authentication: only aigw's own services (and its administrators)
may call config_svc and model_proxy_svc.

Every call must carry an aigw-issued token (never an external issuer's) granting one of the
scopes the server accepts; health and reflection stay open for load balancers and tooling.
A service sends the same token for up to an hour, so verified tokens are remembered until they
expire instead of being verified again on every call of the hot path.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import grpc
import structlog

from aigw_common.errors import PermissionDenied
from aigw_common.interceptors._wrapping import wrap_handler
from aigw_common.token_verifier import (
    Principal,
    TokenVerifier,
    authorization_from_metadata,
    bearer_token,
)

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context, Continuation, Handler, StreamBehavior, UnaryBehavior

caller_var: ContextVar[Principal | None] = ContextVar("internal_caller", default=None)

_OPEN_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")
# Services are few and renew hourly: a handful of live tokens; the bound only guards memory.
_MAX_REMEMBERED = 256


class ServiceAuthInterceptor(grpc.aio.ServerInterceptor):
    """Admits calls whose aigw token grants at least one of `scopes`.

    UNAUTHENTICATED without a valid token, PERMISSION_DENIED with one that grants none of the
    scopes. The verified caller is in `caller_var` for the call.
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        scopes: Iterable[str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if any(issuer.kind != "aigw" for issuer in verifier.issuers):
            raise ValueError("internal calls may only be authenticated by aigw's own tokens")
        self._verifier = verifier
        self._scopes = frozenset(scopes)
        self._clock = clock
        self._verified: dict[str, Principal] = {}

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler_call_details.method.startswith(_OPEN_PREFIXES):
            return handler
        return wrap_handler(handler, unary=self._unary, stream=self._stream)

    async def _authenticate(self, context: Context) -> None:
        token = bearer_token(authorization_from_metadata(context.invocation_metadata()))
        principal = self._verified.get(token)
        if principal is None or principal.expires_at.timestamp() <= self._clock():
            principal = await self._verifier.verify(token)
            if len(self._verified) >= _MAX_REMEMBERED:
                self._verified.clear()
            self._verified[token] = principal
        if not principal.scopes & self._scopes:
            raise PermissionDenied(
                "this service accepts calls from aigw's own services only (a token with one "
                f"of the scopes {', '.join(sorted(self._scopes))})",
                metadata={"scopes": ",".join(sorted(self._scopes))},
            )
        caller_var.set(principal)
        structlog.contextvars.bind_contextvars(caller=principal.subject)

    def _unary(self, behavior: UnaryBehavior) -> UnaryBehavior:
        async def wrapped(request: Any, context: Context) -> Any:
            await self._authenticate(context)
            return await behavior(request, context)

        return wrapped

    def _stream(self, behavior: StreamBehavior) -> StreamBehavior:
        async def wrapped(request: Any, context: Context) -> AsyncIterator[Any]:
            await self._authenticate(context)
            async for response in behavior(request, context):
                yield response

        return wrapped


def require_caller_scope(scope: str) -> None:
    """PermissionDenied unless the current internal caller's token grants `scope`."""
    caller = caller_var.get()
    if caller is None or scope not in caller.scopes:
        raise PermissionDenied(
            f"this change needs a token with the {scope!r} scope (e.g. the `aigw` command)",
            metadata={"scope": scope},
        )
