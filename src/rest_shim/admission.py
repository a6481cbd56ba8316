"""Refuse what must not reach a route, from the request head alone, before any body is read.

- A request on a connection in the health checks' headroom (http_server.py) that is not for
  `/monitoring/*`: 503 with Retry-After.
- A request to an API route without a bearer credential: 401 in its API family's words, so
  an anonymous client cannot make the shim read (and hold) its body. (The token itself is
  verified by the router.)
- A body larger than `max_body_bytes`: 413 at once when Content-Length says so; a chunked body
  is counted as it arrives and refused the moment it passes the limit.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aigw_common.errors import AigwError, Unauthenticated
from aigw_common.token_verifier import bearer_token
from rest_shim.http_server import HEALTH_ONLY_SCOPE_KEY

_OPEN_PREFIXES = ("/monitoring/", "/docs", "/openapi")
_BUSY_RETRY_AFTER_S = "1"


class AdmissionMiddleware:
    """Outermost of the shim's own middleware after the request id (the refusals carry it)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        require_credential: bool,
        respond: Callable[[str, AigwError], Response],
    ) -> None:
        self._app = app
        self._max_body_bytes = max_body_bytes
        self._require_credential = require_credential
        # The answer in the error shape of the path's API family.
        self._respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path: str = scope["path"]
        open_path = path.startswith(_OPEN_PREFIXES)
        if scope.get(HEALTH_ONLY_SCOPE_KEY) and not open_path:
            busy = JSONResponse(
                {"detail": "Too many connections"},
                status_code=503,
                headers={"Retry-After": _BUSY_RETRY_AFTER_S, "Connection": "close"},
            )
            await busy(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self._require_credential and not open_path:
            try:
                bearer_token(headers.get("authorization"))
            except Unauthenticated as error:
                await self._respond(path, error)(scope, receive, send)
                return
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_body_bytes:
            await self._too_large()(scope, receive, send)
            return
        await self._app(scope, self._counting(receive), send)

    def _too_large(self) -> JSONResponse:
        return JSONResponse(
            {"detail": f"Request body larger than {self._max_body_bytes} bytes"},
            status_code=413,
            headers={"Connection": "close"},
        )

    def _counting(self, receive: Receive) -> Receive:
        received = 0
        limit = self._max_body_bytes

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised into the route's body read; FastAPI answers it as this status.
                    raise HTTPException(413, f"Request body larger than {limit} bytes")
            return message

        return counted
