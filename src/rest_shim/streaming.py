"""Relay a router stream as GitLab's plain-text stream: bare text deltas, no SSE framing.

The first text is awaited before the response starts, so an error the router reports up front
(bad token, feature off, model down) still gets its proper HTTP status. After that the status is
sent and a failure can only end the stream early. Whatever ends the response (the last chunk, an
error, the client going away) cancels the router call, which cancels the model's work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import structlog
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from aigw.router.v1 import router_service_pb2

TEXT_STREAM_MEDIA_TYPE = "text/event-stream"

_log = structlog.get_logger(__name__)

_Chunk = router_service_pb2.StreamCompleteResponse
StreamCall = grpc.aio.UnaryStreamCall[
    router_service_pb2.StreamCompleteRequest, router_service_pb2.StreamCompleteResponse
]


class _CancellingStreamingResponse(StreamingResponse):
    """Cancels the router call on every way out, including a client that disconnected before
    the body iterator ever ran."""

    def __init__(self, call: StreamCall, chunks: AsyncIterator[bytes]) -> None:
        super().__init__(chunks, media_type=TEXT_STREAM_MEDIA_TYPE)
        self._call = call

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._call.cancel()


async def text_stream_response(call: StreamCall) -> StreamingResponse:
    """A streaming response relaying `call`'s text; raises grpc.aio.AioRpcError when the call
    fails before producing any text."""
    try:
        first = await _first_text(call)
    except BaseException:
        call.cancel()
        raise
    return _CancellingStreamingResponse(call, _relay(call, first))


async def _first_text(call: StreamCall) -> bytes:
    # The router's first chunk may carry only `served_by`; wait for actual text or the end.
    while True:
        chunk = await call.read()
        if not isinstance(chunk, _Chunk):  # grpc.aio.EOF
            return b""
        if chunk.text:
            return chunk.text.encode()


async def _relay(call: StreamCall, first: bytes) -> AsyncIterator[bytes]:
    if first:
        yield first
    try:
        while True:
            chunk = await call.read()
            if not isinstance(chunk, _Chunk):  # grpc.aio.EOF
                return
            # Per chunk: no parsing, no logging, just the bytes.
            if chunk.text:
                yield chunk.text.encode()
    except grpc.aio.AioRpcError as error:
        _log.warning(
            "stream ended early", code=error.code().name, error=error.details() or error.code().name
        )
    finally:
        call.cancel()
