"""Client side: interceptors that add metadata to every outgoing unary and server-streaming call.

The request context and a service's own token travel this way. An entry is added only when it
has a value and the call does not carry that key already (a caller's own value wins).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import grpc

# The entries to add to the call being made now; computed per call (context vars, a token).
MetadataEntries = Callable[[], Iterable[tuple[str, str | None]]]


def adding_metadata(entries: MetadataEntries) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors adding `entries()` to every unary and server-streaming call."""
    # Two objects: grpc.aio files each interceptor under the first call type it implements
    # only, so one object implementing both would never see streaming calls.
    return [_Unary(entries), _Stream(entries)]


def _with_entries(
    details: grpc.aio.ClientCallDetails, entries: MetadataEntries
) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    present = set(metadata.keys())
    added = [(key, value) for key, value in entries() if value and key not in present]
    if not added:
        return details
    for key, value in added:
        metadata.add(key, value)
    return grpc.aio.ClientCallDetails(
        method=details.method,
        timeout=details.timeout,
        metadata=metadata,
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


class _AddingMetadata:
    def __init__(self, entries: MetadataEntries) -> None:
        self._entries = entries

    async def _intercept(
        self,
        continuation: Callable[..., Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(_with_entries(client_call_details, self._entries), request)


class _Unary(_AddingMetadata, grpc.aio.UnaryUnaryClientInterceptor):
    intercept_unary_unary = _AddingMetadata._intercept


class _Stream(_AddingMetadata, grpc.aio.UnaryStreamClientInterceptor):
    intercept_unary_stream = _AddingMetadata._intercept
