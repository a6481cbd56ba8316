"""The OpenAI-compatible wire protocol as vLLM serves it (shared reference providers.md §1).

A prompt goes to `{endpoint}/completions`, chat to `{endpoint}/chat/completions`. Only fields
vLLM 0.6.4 knows are sent: it refuses unknown ones with 400.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import httpx
from httpx_sse import SSEError, aconnect_sse

from aigw.common.v1 import common_pb2
from aigw_common.errors import UpstreamError
from model_proxy_svc.clients import HttpClients, request_id_header
from model_proxy_svc.providers.base import (
    Chunk,
    Completion,
    FinishReason,
    GenerationRequest,
    ServedModel,
    Upstream,
    Usage,
)
from model_proxy_svc.providers.openai_errors import status_error, stream_error
from model_proxy_svc.providers.upstream_errors import protocol_error, transport_error

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": common_pb2.FINISH_REASON_STOP,
    "length": common_pb2.FINISH_REASON_LENGTH,
    "content_filter": common_pb2.FINISH_REASON_CONTENT_FILTER,
    "tool_calls": common_pb2.FINISH_REASON_TOOL_CALLS,
}


class OpenAICompatibleProvider:
    """vLLM and other servers speaking the OpenAI completions and chat completions APIs."""

    def __init__(self, clients: HttpClients) -> None:
        self._clients = clients

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        upstream = request.upstream
        path, body = self._body(request, stream=True)
        client = self._clients.for_endpoint(upstream.endpoint)
        state = _StreamState(upstream)
        try:
            async with aconnect_sse(
                client,
                "POST",
                self._url(upstream, path),
                json=body,
                headers=self._headers(upstream),
                timeout=self._timeout(upstream),
            ) as source:
                response = source.response
                if response.status_code != 200:
                    raise self._status_error(response, await response.aread(), upstream, path)
                # Reading on after [DONE] to the end of the body keeps the connection reusable.
                async with aclosing(source.aiter_sse()) as events:
                    async for event in events:
                        chunk = state.feed(event.data)
                        if chunk is not None:
                            yield chunk
                last = state.end()
                if last is not None:
                    yield last
        except httpx.HTTPError as error:
            raise transport_error(error, upstream) from None
        except SSEError as error:
            raise protocol_error(upstream, str(error)) from None

    async def generate(self, request: GenerationRequest) -> Completion:
        upstream = request.upstream
        path, body = self._body(request, stream=False)
        payload = await self._call(upstream, "POST", path, body)
        choices = payload.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else {}
        if not isinstance(choice, dict):
            raise protocol_error(upstream, "choices[0] is not an object")
        return Completion(
            text=_choice_text(choice),
            finish_reason=_finish_reason(choice.get("finish_reason")),
            usage=_usage(payload.get("usage")),
        )

    async def list_models(self, upstream: Upstream) -> list[ServedModel]:
        payload = await self._call(upstream, "GET", "/models", None)
        data = payload.get("data")
        if not isinstance(data, list):
            raise protocol_error(upstream, "the model list has no data array")
        return [
            ServedModel(card["id"], _context_tokens(card.get("max_model_len")))
            for card in data
            if isinstance(card, dict) and isinstance(card.get("id"), str)
        ]

    async def _call(
        self, upstream: Upstream, method: str, path: str, body: dict[str, Any] | None
    ) -> dict[str, Any]:
        client = self._clients.for_endpoint(upstream.endpoint)
        try:
            response = await client.request(
                method,
                self._url(upstream, path),
                json=body,
                headers=self._headers(upstream),
                timeout=self._timeout(upstream),
            )
        except httpx.HTTPError as error:
            raise transport_error(error, upstream) from None
        if response.status_code != 200:
            raise self._status_error(response, response.content, upstream, path)
        try:
            payload = response.json()
        except ValueError:
            raise protocol_error(upstream, "the body is not JSON") from None
        if not isinstance(payload, dict):
            raise protocol_error(upstream, "the body is not a JSON object")
        return payload

    # What other OpenAI-style platforms (Azure) change: URL, headers, body, error wording.

    def _url(self, upstream: Upstream, path: str) -> str:
        return upstream.endpoint.rstrip("/") + path

    def _headers(self, upstream: Upstream) -> dict[str, str]:
        headers = request_id_header()
        if upstream.api_key:
            headers["Authorization"] = f"Bearer {upstream.api_key}"
        return headers

    def _body(self, request: GenerationRequest, *, stream: bool) -> tuple[str, dict[str, Any]]:
        return request_body(request, stream=stream, model=request.upstream.identifier)

    def _status_error(
        self, response: httpx.Response, body: bytes, upstream: Upstream, path: str
    ) -> UpstreamError:
        return status_error(response.status_code, body, upstream, path, response.headers)

    def _timeout(self, upstream: Upstream) -> httpx.Timeout:
        return self._clients.request_timeout(upstream.timeout_s, upstream.connect_timeout_s)


class _StreamState:
    """Turns SSE data lines into chunks. The finishing choice is held back until the usage
    event that follows it (or `[DONE]`), so one last chunk carries both."""

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream
        self._finish: Chunk | None = None
        self._usage: Usage | None = None
        self._done = False

    def feed(self, data: str) -> Chunk | None:
        if self._done:
            return None
        if data == "[DONE]":
            return self.end()
        try:
            payload = json.loads(data)
        except ValueError:
            raise protocol_error(self._upstream, "a stream event is not JSON") from None
        if not isinstance(payload, dict):
            raise protocol_error(self._upstream, "a stream event is not a JSON object")
        if "error" in payload and not payload.get("choices"):
            raise stream_error(payload, self._upstream)
        usage = _usage(payload.get("usage"))
        if usage is not None:
            self._usage = usage
        # Azure sends events with no choices (filter results, usage); never index blindly.
        choices = payload.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, dict):
            return None
        text = _choice_text(choice)
        finish = choice.get("finish_reason")
        if finish is not None:
            self._finish = Chunk(text, _finish_reason(finish))
            return None
        return Chunk(text) if text else None

    def end(self) -> Chunk | None:
        """The last chunk (finish reason and usage), once; None if there is nothing to say."""
        if self._done:
            return None
        self._done = True
        if self._finish is None and self._usage is None:
            return None
        finish = self._finish or Chunk("")
        return Chunk(finish.text, finish.finish_reason, self._usage)


def request_body(
    request: GenerationRequest, *, stream: bool, model: str | None, vllm_extras: bool = True
) -> tuple[str, dict[str, Any]]:
    """The path and body of an OpenAI-style request; `model` None leaves it out (Azure's
    deployment URLs name the model), `vllm_extras` False drops vLLM-only fields."""
    body: dict[str, Any] = {} if model is None else {"model": model}
    if request.prompt is not None and request.prompt_as_chat:
        path = "/chat/completions"
        body["messages"] = [{"role": "user", "content": request.prompt}]
    elif request.prompt is not None:
        path = "/completions"
        body["prompt"] = request.prompt
    else:
        path = "/chat/completions"
        body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop"] = list(request.stop)
    if request.stop_token_ids and vllm_extras:
        body["stop_token_ids"] = list(request.stop_token_ids)
    body["stream"] = stream
    if stream:
        body["stream_options"] = {"include_usage": True}
    return path, body


def _choice_text(choice: dict[str, Any]) -> str:
    holder = choice.get("delta") or choice.get("message")
    text = holder.get("content") if isinstance(holder, dict) else choice.get("text")
    return text if isinstance(text, str) else ""


def _context_tokens(value: Any) -> int:
    # vLLM's `max_model_len`; other servers leave it out.
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _finish_reason(value: Any) -> FinishReason:
    if isinstance(value, str):
        return _FINISH_REASONS.get(value, common_pb2.FINISH_REASON_UNSPECIFIED)
    return common_pb2.FINISH_REASON_UNSPECIFIED


def _usage(value: Any) -> Usage | None:
    if not isinstance(value, dict):
        return None
    prompt, completion = value.get("prompt_tokens"), value.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(input_tokens=prompt, output_tokens=completion)
