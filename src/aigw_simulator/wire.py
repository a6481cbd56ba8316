"""vLLM 0.6.4's OpenAI-compatible bodies, byte for byte: compact JSON, the same keys in the same
order, nulls where vLLM writes nulls (see shared reference providers.md section 1)."""

from __future__ import annotations

import json
from typing import Any, Literal

from aigw_simulator.plan import Plan

ErrorShape = Literal["flat", "nested"]

DONE_EVENT = b"data: [DONE]\n\n"
SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8")]


def dumps(value: Any) -> bytes:
    """Compact JSON as pydantic and Starlette's JSONResponse write it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def sse_event(value: Any) -> bytes:
    return b"data: " + dumps(value) + b"\n\n"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    # vLLM's key order: prompt, total, completion.
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
    }


def error_body(
    message: str, err_type: str, code: int, shape: ErrorShape, param: str | None = None
) -> dict[str, Any]:
    if shape == "nested":
        return {"error": {"message": message, "type": err_type, "param": param, "code": code}}
    return {"object": "error", "message": message, "type": err_type, "param": param, "code": code}


def stream_error_event(message: str, err_type: str = "BadRequestError", code: int = 400) -> bytes:
    # vLLM builds this one with json.dumps defaults (spaces after separators), not pydantic.
    inner = {"object": "error", "message": message, "type": err_type, "param": None, "code": code}
    return b"data: " + json.dumps({"error": inner}).encode() + b"\n\n"


class _OpenAIStream:
    """What vLLM's two stream kinds share: the ending, usage on request, and the in-band error."""

    headers = SSE_HEADERS

    def __init__(self, *, include_usage: bool) -> None:
        self._include_usage = include_usage

    def finish(self, text: str, finish_reason: str, stop_reason: str | None) -> bytes:
        raise NotImplementedError

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        raise NotImplementedError

    def opening(self) -> list[bytes]:
        return []

    def closing(self, last_text: str, plan: Plan) -> list[bytes]:
        events = [self.finish(last_text, plan.finish_reason, plan.stop_reason)]
        if self._include_usage:
            events.append(self.usage(plan.prompt_tokens, plan.completion_tokens))
        return [*events, DONE_EVENT]

    def failure(self, message: str) -> list[bytes]:
        return [stream_error_event(message), DONE_EVENT]


class ChatStream(_OpenAIStream):
    """The events of a streamed chat completion (chunks dumped with exclude_unset)."""

    def __init__(
        self, response_id: str, created: int, model: str, *, include_usage: bool = True
    ) -> None:
        super().__init__(include_usage=include_usage)
        self._head = {"id": response_id, "object": "chat.completion.chunk", "created": created}
        self._model = model

    def opening(self) -> list[bytes]:
        return [self.role()]

    def _chunk(self, choice: dict[str, Any]) -> bytes:
        return sse_event({**self._head, "model": self._model, "choices": [choice]})

    def role(self) -> bytes:
        delta = {"role": "assistant", "content": ""}
        return self._chunk({"index": 0, "delta": delta, "logprobs": None, "finish_reason": None})

    def token(self, text: str) -> bytes:
        delta = {"content": text}
        return self._chunk({"index": 0, "delta": delta, "logprobs": None, "finish_reason": None})

    def finish(self, text: str, finish_reason: str, stop_reason: str | None) -> bytes:
        return self._chunk(
            {
                "index": 0,
                "delta": {"content": text},
                "logprobs": None,
                "finish_reason": finish_reason,
                "stop_reason": stop_reason,
            }
        )

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        return sse_event(
            {
                **self._head,
                "model": self._model,
                "choices": [],
                "usage": usage(prompt_tokens, completion_tokens),
            }
        )


class CompletionStream(_OpenAIStream):
    """The events of a streamed text completion (every key present, `"usage":null`)."""

    def __init__(
        self, response_id: str, created: int, model: str, *, include_usage: bool = True
    ) -> None:
        super().__init__(include_usage=include_usage)
        self._head = {"id": response_id, "object": "text_completion", "created": created}
        self._model = model

    def token(
        self, text: str, finish_reason: str | None = None, stop_reason: str | None = None
    ) -> bytes:
        choice = {
            "index": 0,
            "text": text,
            "logprobs": None,
            "finish_reason": finish_reason,
            "stop_reason": stop_reason,
        }
        return sse_event({**self._head, "model": self._model, "choices": [choice], "usage": None})

    def finish(self, text: str, finish_reason: str, stop_reason: str | None) -> bytes:
        return self.token(text, finish_reason, stop_reason)

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        return sse_event(
            {
                **self._head,
                "model": self._model,
                "choices": [],
                "usage": usage(prompt_tokens, completion_tokens),
            }
        )


def chat_response(
    response_id: str,
    created: int,
    model: str,
    text: str,
    finish_reason: str,
    stop_reason: str | None,
    prompt_tokens: int,
    completion_tokens: int,
) -> bytes:
    return dumps(
        {
            "id": response_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "tool_calls": []},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                    "stop_reason": stop_reason,
                }
            ],
            "usage": {**usage(prompt_tokens, completion_tokens), "prompt_tokens_details": None},
            "prompt_logprobs": None,
        }
    )


def completion_response(
    response_id: str,
    created: int,
    model: str,
    text: str,
    finish_reason: str,
    stop_reason: str | None,
    prompt_tokens: int,
    completion_tokens: int,
) -> bytes:
    return dumps(
        {
            "id": response_id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "text": text,
                    "logprobs": None,
                    "finish_reason": finish_reason,
                    "stop_reason": stop_reason,
                    "prompt_logprobs": None,
                }
            ],
            "usage": {**usage(prompt_tokens, completion_tokens), "prompt_tokens_details": None},
        }
    )


def model_list(model: str, created: int, max_model_len: int) -> bytes:
    permission = {
        "id": f"modelperm-{model}",
        "object": "model_permission",
        "created": created,
        "allow_create_engine": False,
        "allow_sampling": True,
        "allow_logprobs": True,
        "allow_search_indices": False,
        "allow_view": True,
        "allow_fine_tuning": False,
        "organization": "*",
        "group": None,
        "is_blocking": False,
    }
    card = {
        "id": model,
        "object": "model",
        "created": created,
        "owned_by": "vllm",
        "root": model,
        "parent": None,
        "max_model_len": max_model_len,
        "permission": [permission],
    }
    return dumps({"object": "list", "data": [card]})
