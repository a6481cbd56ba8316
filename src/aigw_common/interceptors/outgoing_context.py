"""Client side: send the current correlation id and trace context with every outgoing call."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from aigw_common.interceptors.client_metadata import adding_metadata
from aigw_common.request_context import REQUEST_ID_KEY, request_id_var
from aigw_common.tracing import outgoing_headers


def _context() -> Iterator[tuple[str, str | None]]:
    yield REQUEST_ID_KEY, request_id_var.get()
    yield from outgoing_headers().items()


def outgoing_context_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """The interceptors every channel to another aigw service carries: `x-request-id` from the
    request context, and the W3C trace context."""
    return adding_metadata(_context)
