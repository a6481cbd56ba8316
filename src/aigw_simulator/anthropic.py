"""Anthropic's Messages API (providers.md §4): `POST /v1/messages` with `x-api-key` and
`anthropic-version`, a top-level `system`, named SSE events (no `[DONE]`), cumulative usage,
`event: error` inside a 200 stream, and errors shaped `{"type":"error","error":{...}}`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aigw_simulator import wire
from aigw_simulator.faults import failure_status, plan_for, retry_after_headers, words
from aigw_simulator.http_common import presented_key, read_json, start_record
from aigw_simulator.plan import Plan
from aigw_simulator.requests import RequestError
from aigw_simulator.responses import WatchedResponse, json_producer, stream_producer
from aigw_simulator.state import Simulator

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def routes(simulator: Simulator) -> list[Route]:
    return [Route("/v1/messages", _endpoint(simulator), methods=["POST"])]


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    error = {"type": _ERROR_TYPES.get(status, "invalid_request_error"), "message": message}
    return JSONResponse({"type": "error", "error": error}, status, headers=headers)


def _endpoint(simulator: Simulator) -> Any:
    async def endpoint(request: Request) -> Response:
        started = asyncio.get_running_loop().time()
        body = await read_json(request)
        record = start_record(simulator, request, body)
        try:
            answer = _answer(simulator, request, body, started=started)
        except RequestError as error:
            simulator.recorder.finish(record, status=error.status)
            return error_response(error.status, error.message)
        if isinstance(answer, Response):
            simulator.recorder.finish(record, status=answer.status_code)
            return answer
        return WatchedResponse(answer(record), simulator.recorder, record)

    return endpoint


def _answer(simulator: Simulator, request: Request, body: Any, *, started: float) -> Any:
    config = simulator.config
    if config.api_key is not None and presented_key(request) != config.api_key:
        raise RequestError("invalid x-api-key", 401)
    if not request.headers.get("anthropic-version"):
        raise RequestError("anthropic-version: header is required")
    texts, max_tokens, stop, stream = _parse(body)
    if body["model"] != config.model:
        raise RequestError(f"model: {body['model']}", 404)
    status = failure_status(simulator, request.headers)
    if status:
        headers = retry_after_headers(simulator, with_ms=False) if status == 429 else None
        message = "Overloaded" if status == 529 else "simulated failure"
        return error_response(status, message, headers)
    plan = plan_for(
        simulator,
        request.headers,
        max_tokens=max_tokens,
        stop=stop,
        prompt_tokens=sum(words(text) for text in texts),
    )
    recorder = simulator.recorder
    events = _MessageStream(config.model, plan)

    def produce(record: Any) -> Any:
        if stream:
            return stream_producer(
                plan=plan, events=events, started=started, recorder=recorder, record=record
            )
        answer = wire.dumps(events.whole(plan))
        return json_producer(
            plan=plan, body=answer, started=started, recorder=recorder, record=record
        )

    return produce


def _parse(body: Any) -> tuple[list[str], int, list[str], bool]:
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            raise RequestError(f"{name}: Field required")
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise RequestError("max_tokens: Input should be a valid positive integer")
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages: at least one message is required")
    texts: list[str] = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "system":
            raise RequestError(
                'messages: Unexpected role "system". The Messages API accepts a top-level '
                '`system` parameter, not "system" as an input message role.'
            )
        if role not in ("user", "assistant"):
            raise RequestError(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if not isinstance(content, str):
            raise RequestError(f"messages.{index}.content: the simulator takes text content")
        texts.append(content)
    system = body.get("system", "")
    if isinstance(system, str):
        texts.append(system)
    stop = body.get("stop_sequences") or []
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise RequestError("stop_sequences: Input should be a valid list of strings")
    return texts, max_tokens, stop, body.get("stream") is True


def _stop_reason(plan: Plan) -> str:
    if plan.finish_reason == "length":
        return "max_tokens"
    return "stop_sequence" if plan.stop_reason else "end_turn"


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: ".encode() + json.dumps(data).encode() + b"\n\n"


class _MessageStream:
    headers = [
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"request-id", f"req_{uuid.uuid4().hex}".encode()),
    ]

    def __init__(self, model: str, plan: Plan) -> None:
        self._id = f"msg_{uuid.uuid4().hex[:24]}"
        self._model = model
        self._plan = plan

    def _message(self, plan: Plan, content: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "content": content,
            "model": self._model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": plan.prompt_tokens, "output_tokens": 1},
        }

    def opening(self) -> list[bytes]:
        start = {"type": "message_start", "message": self._message(self._plan, [])}
        return [
            _sse("message_start", start),
            _sse(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            _sse("ping", {"type": "ping"}),
        ]

    def token(self, text: str) -> bytes:
        delta = {"type": "text_delta", "text": text}
        return _sse(
            "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        )

    def closing(self, last_text: str, plan: Plan) -> list[bytes]:
        events = [self.token(last_text)] if last_text else []
        return [
            *events,
            _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": _stop_reason(plan), "stop_sequence": plan.stop_reason},
                    "usage": {"output_tokens": plan.completion_tokens},
                },
            ),
            _sse("message_stop", {"type": "message_stop"}),
        ]

    def failure(self, message: str) -> list[bytes]:
        error = {"type": "overloaded_error", "message": f"Overloaded ({message})"}
        return [_sse("error", {"type": "error", "error": error})]

    def whole(self, plan: Plan) -> dict[str, Any]:
        message = self._message(plan, [{"type": "text", "text": plan.text}])
        message["stop_reason"] = _stop_reason(plan)
        message["stop_sequence"] = plan.stop_reason
        message["usage"] = {
            "input_tokens": plan.prompt_tokens,
            "output_tokens": plan.completion_tokens,
        }
        return message
