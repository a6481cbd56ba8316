"""Client side: send the current correlation id and caller subject with every outgoing call."""

from __future__ import annotations

import grpc

from aigw_common.interceptors.client_metadata import adding_metadata
from aigw_common.request_context import REQUEST_ID_KEY, SUBJECT_KEY, request_id_var, subject_var
from aigw_common.tracing import outgoing_headers


def _context() -> tuple[tuple[str, str | None], ...]:
    return (REQUEST_ID_KEY, request_id_var.get()), (SUBJECT_KEY, subject_var.get())


def outgoing_context_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """The interceptors every channel to another aigw service carries: `x-request-id` and
    `x-aigw-subject` from the request context, and the W3C trace context."""
    return [*adding_metadata(_context), *adding_metadata(lambda: outgoing_headers().items())]
