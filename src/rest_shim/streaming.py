"""Relay a router stream to an HTTP client, in whichever wire format the route speaks.

The first text is awaited before the response starts, so an error the router reports up front
(bad token, feature off, model down) still gets its proper HTTP status. After that the status is
sent and a failure can only be reported inside the stream (or end it early). Whatever ends the
response (the last chunk, an error, the client going away) cancels the router call, which
cancels the model's work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Protocol

import grpc
import structlog
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from aigw.router.v1 import router_service_pb2
from aigw_common.coalescing import coalesced, merged_chunks
from aigw_common.errors import AigwError
from aigw_common.grpc_errors import from_rpc_error

TEXT_STREAM_MEDIA_TYPE = "text/event-stream"

_log = structlog.get_logger(__name__)

Chunk = router_service_pb2.StreamCompleteResponse
StreamCall = grpc.aio.UnaryStreamCall[
    router_service_pb2.StreamCompleteRequest, router_service_pb2.StreamCompleteResponse
]


class RouterStream:
    """A started StreamComplete call whose chunks up to the first text have been read."""

    def __init__(self, call: StreamCall, head: list[Chunk]) -> None:
        self._call = call
        self._head = head

    @property
    def served_by(self) -> router_service_pb2.ServedBy:
        """The model that answers (from the router's first chunk; empty if it sent none)."""
        return self._head[0].served_by if self._head else router_service_pb2.ServedBy()

    async def chunks(self) -> AsyncIterator[Chunk]:
        """Every chunk, from the first; raises the domain error the router reported when it
        fails.

        Chunks that queue up while the HTTP client reads slower than the router writes come
        as one (their text joined), so a fast stream is not capped by per-write costs."""
        for chunk in self._head:
            yield chunk
        async with aclosing(coalesced(self._rest(), merged_chunks)) as rest:
            async for chunk in rest:
                yield chunk

    async def _rest(self) -> AsyncIterator[Chunk]:
        while True:
            try:
                read = await self._call.read()
            except grpc.aio.AioRpcError as error:
                raise from_rpc_error(error) from None
            if not isinstance(read, Chunk):  # grpc.aio.EOF
                return
            yield read

    def cancel(self) -> None:
        self._call.cancel()


async def open_stream(call: StreamCall) -> RouterStream:
    """`call` read up to its first text, last chunk or end; raises the router's domain error
    (having cancelled the call) when it fails before that."""
    head: list[Chunk] = []
    try:
        while True:
            chunk = await call.read()
            if not isinstance(chunk, Chunk):  # grpc.aio.EOF
                break
            head.append(chunk)
            # The router's first chunk may carry only `served_by`; wait for text or the end.
            if chunk.text or chunk.finish_reason:
                break
    except grpc.aio.AioRpcError as error:
        call.cancel()
        raise from_rpc_error(error) from None
    except BaseException:
        call.cancel()
        raise
    return RouterStream(call, head)


class Cancellable(Protocol):
    def cancel(self) -> object: ...


class CancellingStreamingResponse(StreamingResponse):
    """Cancels the router call on every way out, including a client that disconnected before
    the body iterator ever ran."""

    def __init__(
        self,
        stream: Cancellable,
        body: AsyncIterator[bytes],
        media_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(body, media_type=media_type, headers=headers)
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._stream.cancel()


def log_stream_failure(error: AigwError) -> None:
    """Note a failure after the response started (its status is already sent)."""
    _log.warning("stream ended early", reason=error.reason, error=error.message)


def text_stream_response(stream: RouterStream) -> StreamingResponse:
    """GitLab's plain-text stream: bare text deltas, no SSE framing, no terminal event."""
    return CancellingStreamingResponse(stream, _raw_text(stream), TEXT_STREAM_MEDIA_TYPE)


async def _raw_text(stream: RouterStream) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream.chunks():
            # Per chunk: no parsing, no logging, just the bytes.
            if chunk.text:
                yield chunk.text.encode()
    except AigwError as error:
        log_stream_failure(error)
    finally:
        stream.cancel()
