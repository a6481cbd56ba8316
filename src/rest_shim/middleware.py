"""Pure ASGI middleware (Starlette's BaseHTTPMiddleware would buffer and detach streams)."""

from __future__ import annotations

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aigw_common.request_context import REQUEST_ID_KEY, accept_request_id, request_id_var

REQUEST_ID_HEADER = "X-Request-ID"


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
