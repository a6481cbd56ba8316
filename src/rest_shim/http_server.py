"""The shim's HTTP/1.1 connections: uvicorn's httptools protocol with the limits it lacks.

uvicorn bounds the idle time between requests on a kept-alive connection (`timeout_keep_alive`)
and the size of a request head (httptools), but not how long a client may take to send its head
or its body, nor how many connections it may hold: a client trickling bytes, or merely opening
sockets, could hold a file descriptor each until the process ran out. Here a connection gets
`header_timeout_s` for each request head (at most `max_header_bytes`, else 431) and
`body_timeout_s` for its body, and connections
beyond `max_connections` are closed as they arrive. The last `health_headroom` connections
before that cap serve `/monitoring/*` only (admission.py answers 503 to anything else), so a
flood cannot blind the orchestrator's probes.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from aigw_common.settings import FastApiSettings

# Set in a request's scope when its connection is within the health checks' headroom.
HEALTH_ONLY_SCOPE_KEY = "aigw.health_only"


def _refusal(status_line: bytes, text: bytes) -> bytes:
    return (
        b"HTTP/1.1 %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status_line, len(text), text)
    )


_REQUEST_TIMEOUT = _refusal(b"408 Request Timeout", b"Request not received in time")
_HEAD_TOO_LARGE = _refusal(b"431 Request Header Fields Too Large", b"Request head too large")


class GuardedHttpProtocol(HttpToolsProtocol):
    """One client connection, bounded in time while a request arrives and in number."""

    def __init__(self, *args: Any, limits: FastApiSettings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits
        self._arrival_timer: asyncio.TimerHandle | None = None
        self._health_only = False
        self._head_bytes = 0
        # Set once the connection is refused: the rest of what the client sent is ignored.
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        open_connections = len(self.connections)  # this one included
        if open_connections > self._limits.max_connections:
            transport.abort()
            return
        self._health_only = (
            open_connections > self._limits.max_connections - self._limits.health_headroom
        )
        self._arm(self._limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._health_only:
            self.scope[HEALTH_ONLY_SCOPE_KEY] = True  # type: ignore[literal-required]
        self._head_bytes = 0
        self._arm(self._limits.header_timeout_s)

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        if not self._refused:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # An oversized credential is GitLab's 401 "token too large", from the middleware that
        # checks it before anything reads the request (httptools holds one header whole anyway).
        credential = name.lower() == b"authorization"
        self._count_head(len(name) + (0 if credential else len(value)))
        if not self._refused:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if not self._refused:
            super().on_headers_complete()
            self._arm(self._limits.body_timeout_s)

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        if not self._refused:
            super().on_message_complete()

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self._limits.max_header_bytes and not self._refused:
            self._refuse(_HEAD_TOO_LARGE)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._arrival_timer = self.loop.call_later(seconds, self._request_too_slow)

    def _disarm(self) -> None:
        if self._arrival_timer is not None:
            self._arrival_timer.cancel()
            self._arrival_timer = None

    def _request_too_slow(self) -> None:
        self._arrival_timer = None
        if not self.transport.is_closing():
            self._refuse(_REQUEST_TIMEOUT)

    def _refuse(self, answer: bytes) -> None:
        self._refused = True
        self._disarm()
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(answer)
        if cycle is not None and not cycle.response_complete:
            # A route waiting for the rest of the body sees its client gone.
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


def server_options(limits: FastApiSettings) -> dict[str, Any]:
    """uvicorn's settings for the shim's listener (its own and these limits)."""
    return {
        "http": functools.partial(GuardedHttpProtocol, limits=limits),
        "timeout_keep_alive": limits.keep_alive_timeout_s,
    }
