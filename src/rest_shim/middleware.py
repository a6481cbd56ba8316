"""Pure ASGI middleware (Starlette's BaseHTTPMiddleware would buffer and detach streams)."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aigw_common.errors import AigwError, Unauthenticated
from aigw_common.request_context import REQUEST_ID_KEY, accept_request_id, request_id_var

REQUEST_ID_HEADER = "X-Request-ID"
_BEARER = "Bearer "


class RequestIdMiddleware:
    """Takes the caller's X-Request-ID (or makes one), binds it for logs and outgoing gRPC
    metadata, and echoes it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        offered = Headers(scope=scope).get(REQUEST_ID_KEY)
        # The id travels on as gRPC metadata, which carries ASCII only.
        request_id = accept_request_id(offered if offered and offered.isascii() else None)

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        token = request_id_var.set(request_id)
        try:
            with structlog.contextvars.bound_contextvars(correlation_id=request_id):
                await self._app(scope, receive, send_with_request_id)
        finally:
            request_id_var.reset(token)


class CredentialSizeMiddleware:
    """Refuses a bearer token over the size limit with 401 before anything reads the request.

    No token that large is valid, and forwarding it would only meet gRPC's metadata limit in
    the router (RESOURCE_EXHAUSTED, gRPC's own words, which reads as "retry later")."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_token_bytes: int,
        respond: Callable[[str, AigwError], Response],
    ) -> None:
        self._app = app
        # `Bearer ` and the token; anything longer cannot hold a token within the limit.
        self._max_header_bytes = len(_BEARER) + max_token_bytes
        self._message = f"token too large (the limit is {max_token_bytes} bytes)"
        self._respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"authorization" and len(value) > self._max_header_bytes:
                    error = Unauthenticated(self._message, reason="TOKEN_INVALID")
                    await self._respond(scope["path"], error)(scope, receive, send)
                    return
        await self._app(scope, receive, send)
