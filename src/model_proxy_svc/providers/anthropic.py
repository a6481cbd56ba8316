"""Anthropic's Messages API (shared reference providers.md §4), over the pooled httpx clients.

`POST {endpoint}/v1/messages` (endpoint e.g. https://api.anthropic.com) with `x-api-key` and
`anthropic-version`. System turns go to the top-level `system`; a plain prompt is one user
message; `max_tokens` is required, so it defaults to the model's limit or 4096. Streams use
named SSE events: text arrives in `content_block_delta`, the stop reason and the cumulative
output token count in `message_delta`, and failures may arrive as `event: error` after 200.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import httpx
from httpx_sse import SSEError, aconnect_sse

from aigw.common.v1 import common_pb2
from aigw_common.errors import FailedPrecondition
from model_proxy_svc.clients import HttpClients, request_id_header
from model_proxy_svc.providers.anthropic_errors import error_event, status_error
from model_proxy_svc.providers.base import (
    Chunk,
    Completion,
    FinishReason,
    GenerationRequest,
    ServedModel,
    Upstream,
    Usage,
)
from model_proxy_svc.providers.upstream_errors import protocol_error, transport_error

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
_PATH = "/v1/messages"
PROTOCOL = "Anthropic's Messages API"
_FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": common_pb2.FINISH_REASON_STOP,
    "stop_sequence": common_pb2.FINISH_REASON_STOP,
    "max_tokens": common_pb2.FINISH_REASON_LENGTH,
    "tool_use": common_pb2.FINISH_REASON_TOOL_CALLS,
    "refusal": common_pb2.FINISH_REASON_CONTENT_FILTER,
}


class AnthropicProvider:
    """Claude through Anthropic's own API."""

    def __init__(self, clients: HttpClients) -> None:
        self._clients = clients

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        upstream = request.upstream
        client = self._clients.for_endpoint(upstream.endpoint)
        state = _StreamState(upstream)
        try:
            async with aconnect_sse(
                client,
                "POST",
                _url(upstream),
                json=_body(request, stream=True),
                headers=_headers(upstream),
                timeout=self._timeout(upstream),
            ) as source:
                response = source.response
                if response.status_code != 200:
                    body = await response.aread()
                    raise status_error(response.status_code, body, upstream, response.headers)
                async with aclosing(source.aiter_sse()) as events:
                    async for event in events:
                        chunk = state.feed(event.event, event.data)
                        if chunk is not None:
                            yield chunk
                        if state.done:
                            break
            yield state.last()
        except httpx.HTTPError as error:
            raise transport_error(error, upstream) from None
        except SSEError as error:
            raise protocol_error(upstream, str(error), protocol=PROTOCOL) from None

    async def generate(self, request: GenerationRequest) -> Completion:
        upstream = request.upstream
        client = self._clients.for_endpoint(upstream.endpoint)
        try:
            response = await client.post(
                _url(upstream),
                json=_body(request, stream=False),
                headers=_headers(upstream),
                timeout=self._timeout(upstream),
            )
        except httpx.HTTPError as error:
            raise transport_error(error, upstream) from None
        if response.status_code != 200:
            raise status_error(response.status_code, response.content, upstream, response.headers)
        try:
            payload = response.json()
        except ValueError:
            raise protocol_error(upstream, "the body is not JSON", protocol=PROTOCOL) from None
        if not isinstance(payload, dict):
            raise protocol_error(upstream, "the body is not a JSON object", protocol=PROTOCOL)
        content = payload.get("content")
        blocks = content if isinstance(content, list) else []
        text = "".join(
            block["text"]
            for block in blocks
            if isinstance(block, dict) and isinstance(block.get("text"), str)
        )
        usage = payload.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        return Completion(
            text=text,
            finish_reason=_finish_reason(payload.get("stop_reason")),
            usage=_usage(usage.get("input_tokens"), usage.get("output_tokens")),
        )

    async def list_models(self, upstream: Upstream) -> list[ServedModel]:
        raise FailedPrecondition(
            "listing Anthropic models is not supported; use a model id such as "
            "claude-3-5-sonnet-20241022 (see Anthropic's model list)",
            metadata={"platform": "PLATFORM_ANTHROPIC"},
        )

    def _timeout(self, upstream: Upstream) -> httpx.Timeout:
        return self._clients.request_timeout(upstream.timeout_s, upstream.connect_timeout_s)


class _StreamState:
    """Turns named events into chunks; the last chunk carries the stop reason and usage."""

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream
        self._input_tokens: int | None = None
        self._output_tokens: int | None = None
        self._finish: FinishReason = common_pb2.FINISH_REASON_UNSPECIFIED
        self.done = False

    def feed(self, kind: str, data: str) -> Chunk | None:
        if kind == "ping":
            return None
        try:
            payload = json.loads(data)
        except ValueError:
            raise protocol_error(
                self._upstream, f"a {kind} event is not JSON", protocol=PROTOCOL
            ) from None
        if not isinstance(payload, dict):
            raise protocol_error(
                self._upstream, f"a {kind} event is not a JSON object", protocol=PROTOCOL
            )
        if kind == "error":
            raise error_event(payload, self._upstream)
        if kind == "message_start":
            usage = (payload.get("message") or {}).get("usage") or {}
            self._count(usage)
        elif kind == "content_block_delta":
            delta = payload.get("delta") or {}
            text = delta.get("text") if delta.get("type") == "text_delta" else None
            return Chunk(text) if isinstance(text, str) and text else None
        elif kind == "message_delta":
            self._count(payload.get("usage") or {})
            stop = (payload.get("delta") or {}).get("stop_reason")
            if stop is not None:
                self._finish = _finish_reason(stop)
        elif kind == "message_stop":
            self.done = True
        return None

    def _count(self, usage: dict[str, Any]) -> None:
        # Counts are cumulative: the latest value is the total so far.
        if isinstance(usage.get("input_tokens"), int):
            self._input_tokens = usage["input_tokens"]
        if isinstance(usage.get("output_tokens"), int):
            self._output_tokens = usage["output_tokens"]

    def last(self) -> Chunk:
        if not self.done:
            raise protocol_error(
                self._upstream, "the stream ended before message_stop", protocol=PROTOCOL
            )
        return Chunk("", self._finish, _usage(self._input_tokens, self._output_tokens))


def _url(upstream: Upstream) -> str:
    return upstream.endpoint.rstrip("/") + _PATH


def _headers(upstream: Upstream) -> dict[str, str]:
    headers = {**request_id_header(), "anthropic-version": API_VERSION}
    if upstream.api_key:
        headers["x-api-key"] = upstream.api_key
    return headers


def _body(request: GenerationRequest, *, stream: bool) -> dict[str, Any]:
    upstream = request.upstream
    max_tokens = request.max_tokens or upstream.max_output_tokens or DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {"model": upstream.identifier, "max_tokens": max_tokens}
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    if system:
        body["system"] = system
    if request.prompt is not None:
        body["messages"] = [{"role": "user", "content": request.prompt}]
    else:
        body["messages"] = [
            {"role": m.role, "content": m.content} for m in request.messages if m.role != "system"
        ]
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if stream:
        body["stream"] = True
    return body


def _finish_reason(value: Any) -> FinishReason:
    if isinstance(value, str):
        return _FINISH_REASONS.get(value, common_pb2.FINISH_REASON_UNSPECIFIED)
    return common_pb2.FINISH_REASON_UNSPECIFIED


def _usage(given: Any, produced: Any) -> Usage | None:
    if not isinstance(given, int) or not isinstance(produced, int):
        return None
    return Usage(input_tokens=given, output_tokens=produced)
