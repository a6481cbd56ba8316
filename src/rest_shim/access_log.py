"""One access-log line and one metrics update per HTTP request, in a pure ASGI middleware.

The line carries the route, status, duration and the time to the response's first body bytes
(for a stream, the first chunk); the router's own line for the same correlation id adds the
feature, model and token counts. Nothing is logged per chunk. A response that failed after its
status was sent, or whose caller left, says so in `failure` (the status alone cannot).
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aigw_common import metrics

_UNMATCHED = "unmatched"

# Nginx's convention, which GitLab's dashboards share: the caller closed the connection.
CLIENT_CLOSED_REQUEST = 499
CLIENT_GONE = "client disconnected"

_log = structlog.get_logger("aigw.access")


@dataclass
class _Outcome:
    failure: str | None = None
    client_gone: bool = False


# Set per request by the middleware; the holder is shared with the tasks the request starts
# (a streamed body runs in its own task, whose own context changes the middleware cannot see).
_outcome_var: ContextVar[_Outcome | None] = ContextVar("aigw_http_outcome", default=None)


def note_failure(reason: str) -> None:
    """Why the current response failed after its status was sent (first reason wins)."""
    outcome = _outcome_var.get()
    if outcome is not None and outcome.failure is None:
        outcome.failure = reason


def note_client_gone() -> None:
    """The caller of the current request left before its answer was complete."""
    outcome = _outcome_var.get()
    if outcome is not None:
        outcome.client_gone = True
        if outcome.failure is None:
            outcome.failure = CLIENT_GONE


class AccessLogMiddleware:
    """Runs inside RequestIdMiddleware, so the line carries the correlation id."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None
        first_body_s: float | None = None
        outcome = _Outcome()
        token = _outcome_var.set(outcome)

        async def observing_send(message: Message) -> None:
            nonlocal status, first_body_s
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif first_body_s is None and message["type"] == "http.response.body":
                first_body_s = time.perf_counter() - started
            await send(message)

        metrics.HTTP_IN_FLIGHT.inc()
        try:
            await self._app(scope, receive, observing_send)
        finally:
            _outcome_var.reset(token)
            metrics.HTTP_IN_FLIGHT.dec()
            if status is None:
                # Nothing was sent: the caller left first, or the app failed (uvicorn sends 500).
                status = CLIENT_CLOSED_REQUEST if outcome.client_gone else 500
            duration_s = time.perf_counter() - started
            # The route's template, not the raw path: a label must not grow with the input.
            route = getattr(scope.get("route"), "path", _UNMATCHED)
            method = scope["method"]
            metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
            metrics.HTTP_DURATION.labels(route, method).observe(duration_s)
            _log.info(
                "access",
                method=method,
                path=scope["path"],
                route=route,
                status=status,
                duration_s=round(duration_s, 6),
                time_to_first_byte_s=None if first_body_s is None else round(first_body_s, 6),
                failure=outcome.failure,
                user_agent=_header(scope, b"user-agent"),
            )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None
