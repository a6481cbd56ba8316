"""OpenAI's streaming format: `data: <chunk JSON>` events, a usage chunk when the caller asked
for it (`stream_options.include_usage`), then `data: [DONE]`.

A chat stream opens with a chunk carrying the assistant role, and ends with an empty delta
carrying the finish reason. A failure after the response started is sent as an event holding
OpenAI's error object (the SDK raises it), and the stream ends without `[DONE]`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.responses import StreamingResponse

from aigw.common.v1 import common_pb2
from aigw_common.errors import AigwError
from rest_shim.openai_compat.errors import error_payload
from rest_shim.sse import sse_event
from rest_shim.streaming import (
    TEXT_STREAM_MEDIA_TYPE,
    CancellingStreamingResponse,
    RouterStream,
    log_stream_failure,
)

_DONE = sse_event("[DONE]", sep="\n")
_FINISH_REASONS = {
    common_pb2.FINISH_REASON_STOP: "stop",
    common_pb2.FINISH_REASON_LENGTH: "length",
    common_pb2.FINISH_REASON_CONTENT_FILTER: "content_filter",
    common_pb2.FINISH_REASON_TOOL_CALLS: "tool_calls",
}


@dataclass(frozen=True)
class StreamShape:
    """What every chunk of one answer repeats."""

    object: str  # "chat.completion.chunk" or "text_completion"
    id: str
    model: str
    created: int
    include_usage: bool

    @property
    def chat(self) -> bool:
        return self.object == "chat.completion.chunk"


def finish_reason(reason: common_pb2.FinishReason.ValueType) -> str:
    """OpenAI's name for a finish reason; an answer that ended without one stopped normally."""
    return _FINISH_REASONS.get(reason, "stop")


def usage_body(usage: common_pb2.TokenUsage) -> dict[str, int]:
    """OpenAI's usage object."""
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def sse_response(stream: RouterStream, shape: StreamShape) -> StreamingResponse:
    """The router stream as OpenAI's SSE stream."""
    return CancellingStreamingResponse(stream, _events(stream, shape), TEXT_STREAM_MEDIA_TYPE)


async def _events(stream: RouterStream, shape: StreamShape) -> AsyncIterator[bytes]:
    usage = common_pb2.TokenUsage()
    reason = common_pb2.FINISH_REASON_UNSPECIFIED
    try:
        if shape.chat:
            yield _event(shape, _choice(shape, {"role": "assistant", "content": ""}, None))
        text_event = _TextEvent(shape)
        async for chunk in stream.chunks():
            if chunk.text:
                yield text_event.encode(chunk.text)
            if chunk.HasField("usage"):
                usage = chunk.usage
            if chunk.finish_reason:
                reason = chunk.finish_reason
        yield _event(shape, _choice(shape, {} if shape.chat else "", finish_reason(reason)))
        if shape.include_usage:
            yield _event(shape, [], usage=usage_body(usage))
        yield _DONE
    except AigwError as error:
        log_stream_failure(error)
        _, body = error_payload(error)
        yield _encode(body)
    finally:
        stream.cancel()


class _TextEvent:
    """A text chunk's event, which differs from its stream's other text chunks only in the
    text: rendered once per stream around a placeholder, so that each chunk costs one JSON
    string escape instead of building and encoding the whole chunk."""

    _PLACEHOLDER = "\x00aigw-text\x00"

    def __init__(self, shape: StreamShape) -> None:
        whole = _event(shape, _choice(shape, self._PLACEHOLDER, None))
        self._head, _, self._tail = whole.partition(_json_string(self._PLACEHOLDER).encode())

    def encode(self, text: str) -> bytes:
        return self._head + _json_string(text).encode() + self._tail


def _json_string(text: str) -> str:
    return json.dumps(text)


def _choice(shape: StreamShape, delta: Any, reason: str | None) -> list[dict[str, Any]]:
    if shape.chat:
        content = {"content": delta} if isinstance(delta, str) else delta
        return [{"index": 0, "delta": content, "logprobs": None, "finish_reason": reason}]
    return [{"text": delta, "index": 0, "logprobs": None, "finish_reason": reason}]


def _event(
    shape: StreamShape, choices: list[dict[str, Any]], usage: dict[str, int] | None = None
) -> bytes:
    chunk: dict[str, Any] = {
        "id": shape.id,
        "object": shape.object,
        "created": shape.created,
        "model": shape.model,
        "choices": choices,
    }
    if shape.include_usage:
        # OpenAI sends `usage: null` on every chunk but the last when usage was asked for.
        chunk["usage"] = usage
    return _encode(chunk)


def _encode(payload: dict[str, Any]) -> bytes:
    return sse_event(json.dumps(payload, separators=(",", ":")), sep="\n")
