"""AWS Bedrock Runtime through boto3's Converse and ConverseStream (providers.md §3).

Chat messages map to Converse messages with the system turns in `system`; a plain prompt is
one user message. The correlation id travels as `requestMetadata` (it shows in Bedrock's
invocation logs). Blocking boto3 work runs on BedrockClients' threads; a stream is read one
event per hop, so closing it (the caller went away, a timeout) is done from the event loop by
closing the HTTP response under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncGenerator
from typing import Any

from aigw.common.v1 import common_pb2
from aigw_common.errors import FailedPrecondition
from aigw_common.request_context import request_id_var
from model_proxy_svc.bedrock_clients import BedrockClients
from model_proxy_svc.providers.base import (
    Chunk,
    Completion,
    FinishReason,
    GenerationRequest,
    ServedModel,
    Upstream,
    Usage,
)
from model_proxy_svc.providers.bedrock_errors import error_of

_FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": common_pb2.FINISH_REASON_STOP,
    "stop_sequence": common_pb2.FINISH_REASON_STOP,
    "max_tokens": common_pb2.FINISH_REASON_LENGTH,
    "model_context_window_exceeded": common_pb2.FINISH_REASON_LENGTH,
    "guardrail_intervened": common_pb2.FINISH_REASON_CONTENT_FILTER,
    "content_filtered": common_pb2.FINISH_REASON_CONTENT_FILTER,
    "tool_use": common_pb2.FINISH_REASON_TOOL_CALLS,
}
# What Bedrock accepts in requestMetadata values.
_METADATA_VALUE = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,\-.]{1,256}")
_END = object()


class BedrockProvider:
    """Converse / ConverseStream with boto3 on worker threads."""

    def __init__(self, clients: BedrockClients) -> None:
        self._clients = clients

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        upstream = request.upstream
        response = await self._call(upstream, "converse_stream", _arguments(request))
        events = response["stream"]
        finish: FinishReason = common_pb2.FINISH_REASON_UNSPECIFIED
        usage: Usage | None = None
        try:
            iterator = iter(events)
            while True:
                try:
                    event = await self._clients.run(next, iterator, _END)
                except Exception as error:
                    raise error_of(error, upstream) from None
                if event is _END:
                    break
                if "contentBlockDelta" in event:
                    text = event["contentBlockDelta"].get("delta", {}).get("text")
                    if text:
                        yield Chunk(text)
                elif "messageStop" in event:
                    finish = _finish_reason(event["messageStop"].get("stopReason"))
                elif "metadata" in event:
                    usage = _usage(event["metadata"].get("usage"))
        finally:
            _close(events)
        if finish != common_pb2.FINISH_REASON_UNSPECIFIED or usage is not None:
            yield Chunk("", finish, usage)

    async def generate(self, request: GenerationRequest) -> Completion:
        upstream = request.upstream
        response = await self._call(upstream, "converse", _arguments(request))
        content = response.get("output", {}).get("message", {}).get("content", [])
        text = "".join(block.get("text", "") for block in content if isinstance(block, dict))
        return Completion(
            text=text,
            finish_reason=_finish_reason(response.get("stopReason")),
            usage=_usage(response.get("usage")),
        )

    async def list_models(self, upstream: Upstream) -> list[ServedModel]:
        raise FailedPrecondition(
            "Bedrock lists models in its control plane, not the runtime the proxy talks to: "
            "run `aws bedrock list-foundation-models` and `aws bedrock "
            "list-inference-profiles` to find a model id",
            metadata={"platform": "PLATFORM_BEDROCK"},
        )

    async def _call(self, upstream: Upstream, operation: str, arguments: dict[str, Any]) -> Any:
        try:
            client = await self._clients.client(upstream)
            call = self._clients.run(getattr(client, operation), **arguments)
            future = asyncio.ensure_future(call)
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                # The thread cannot be stopped; close the stream as soon as it opens.
                future.add_done_callback(_close_when_opened)
                raise
        except Exception as error:
            raise error_of(error, upstream) from None


def _arguments(request: GenerationRequest) -> dict[str, Any]:
    system = [{"text": m.content} for m in request.messages if m.role == "system"]
    if request.prompt is not None:
        messages = [{"role": "user", "content": [{"text": request.prompt}]}]
    else:
        messages = [
            {"role": m.role, "content": [{"text": m.content}]}
            for m in request.messages
            if m.role != "system"
        ]
    arguments: dict[str, Any] = {"modelId": request.upstream.identifier, "messages": messages}
    if system:
        arguments["system"] = system
    inference: dict[str, Any] = {}
    if request.max_tokens is not None:
        inference["maxTokens"] = request.max_tokens
    if request.temperature is not None:
        inference["temperature"] = request.temperature
    if request.top_p is not None:
        inference["topP"] = request.top_p
    if request.stop:
        inference["stopSequences"] = list(request.stop)
    if inference:
        arguments["inferenceConfig"] = inference
    request_id = request_id_var.get()
    if request_id and _METADATA_VALUE.fullmatch(request_id):
        arguments["requestMetadata"] = {"x-request-id": request_id}
    return arguments


def _finish_reason(value: Any) -> FinishReason:
    if isinstance(value, str):
        return _FINISH_REASONS.get(value, common_pb2.FINISH_REASON_UNSPECIFIED)
    return common_pb2.FINISH_REASON_UNSPECIFIED


def _usage(value: Any) -> Usage | None:
    if not isinstance(value, dict):
        return None
    given, produced = value.get("inputTokens"), value.get("outputTokens")
    if not isinstance(given, int) or not isinstance(produced, int):
        return None
    return Usage(input_tokens=given, output_tokens=produced)


def _close(events: Any) -> None:
    """Close a boto3 EventStream at once, even while a worker thread is blocked reading it:
    shutting the socket down wakes that read (closing alone would wait for the next byte)."""
    raw = getattr(events, "_raw_stream", None)
    connection = getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        events.close()


def _close_when_opened(future: asyncio.Future[Any]) -> None:
    if future.cancelled() or future.exception() is not None:
        return
    response = future.result()
    if isinstance(response, dict) and "stream" in response:
        _close(response["stream"])
