"""Client side: send the current correlation id and caller subject with every outgoing call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from aigw_common.request_context import REQUEST_ID_KEY, SUBJECT_KEY, request_id_var, subject_var


def _with_context(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    present = set(metadata.keys())
    for key, value in ((REQUEST_ID_KEY, request_id_var.get()), (SUBJECT_KEY, subject_var.get())):
        if value and key not in present:
            metadata.add(key, value)
    return grpc.aio.ClientCallDetails(
        method=details.method,
        timeout=details.timeout,
        metadata=metadata,
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


class UnaryOutgoingContextInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Adds `x-request-id` and `x-aigw-subject` from the request context to unary calls."""

    async def intercept_unary_unary(
        self,
        continuation: Callable[..., Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(_with_context(client_call_details), request)


class StreamOutgoingContextInterceptor(grpc.aio.UnaryStreamClientInterceptor):
    """The same for server-streaming calls.

    A separate class because grpc.aio files each interceptor object under the first call type
    it implements only; one object implementing both would never see streaming calls.
    """

    async def intercept_unary_stream(
        self,
        continuation: Callable[..., Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(_with_context(client_call_details), request)


def outgoing_context_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """The interceptors every channel to another aigw service carries."""
    return [UnaryOutgoingContextInterceptor(), StreamOutgoingContextInterceptor()]
