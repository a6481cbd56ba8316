"""Azure OpenAI's data plane (providers.md §2): deployment URLs with `api-version`, the GA
`/openai/v1/` layout, `api-key` or Entra bearer auth, and Azure's stream quirks: a first chunk
with empty `choices` and only `prompt_filter_results`, `content_filter_results` on every choice,
and errors with string codes and `retry-after` / `retry-after-ms` on 429.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aigw_simulator import wire
from aigw_simulator.faults import failure_status, plan_for, retry_after_headers
from aigw_simulator.http_common import presented_key, read_json, start_record
from aigw_simulator.plan import Plan, count_prompt_tokens
from aigw_simulator.requests import RequestError, parse_generation
from aigw_simulator.responses import WatchedResponse, json_producer, stream_producer
from aigw_simulator.state import Simulator

# Parameters only vLLM knows; Azure refuses them like OpenAI does.
_VLLM_ONLY = ("stop_token_ids", "skip_special_tokens", "top_k", "min_p", "repetition_penalty")
_SAFE = {"filtered": False, "severity": "safe"}
_FILTER_RESULTS = {
    "hate": _SAFE,
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}
_PROMPT_FILTER = {
    **_FILTER_RESULTS,
    "jailbreak": {"filtered": False, "detected": False},
}
_MESSAGES = {
    401: "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide a valid key for an active subscription and use a correct regional API endpoint "
    "for your resource.",
    404: "The API deployment for this resource does not exist. If you created the deployment "
    "within the last 5 minutes, please wait a moment and try again.",
    429: "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
    "2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please "
    "retry after 1 second.",
}


def routes(simulator: Simulator) -> list[Route]:
    return [
        Route(
            "/openai/deployments/{deployment}/chat/completions",
            _endpoint(simulator, chat=True),
            methods=["POST"],
        ),
        Route(
            "/openai/deployments/{deployment}/completions",
            _endpoint(simulator, chat=False),
            methods=["POST"],
        ),
        Route("/openai/v1/chat/completions", _endpoint(simulator, chat=True), methods=["POST"]),
        Route("/openai/v1/completions", _endpoint(simulator, chat=False), methods=["POST"]),
    ]


def azure_error(status: int, code: str, message: str, **headers: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


def _endpoint(simulator: Simulator, *, chat: bool) -> Any:
    async def endpoint(request: Request) -> Response:
        started = asyncio.get_running_loop().time()
        body = await read_json(request)
        deployment = request.path_params.get("deployment")
        if deployment is None and isinstance(body, dict) and isinstance(body.get("model"), str):
            deployment = body["model"]
        record = start_record(simulator, request, body, model=deployment)
        try:
            answer = _answer(simulator, request, body, deployment, chat=chat, started=started)
        except RequestError as error:
            simulator.recorder.finish(record, status=error.status)
            inner = {"message": error.message, "type": "invalid_request_error", "param": None}
            return JSONResponse({"error": {**inner, "code": None}}, error.status)
        if isinstance(answer, Response):
            simulator.recorder.finish(record, status=answer.status_code)
            return answer
        return WatchedResponse(answer(record), simulator.recorder, record)

    return endpoint


def _answer(
    simulator: Simulator,
    request: Request,
    body: Any,
    deployment: str | None,
    *,
    chat: bool,
    started: float,
) -> Any:
    config = simulator.config
    v1 = "deployment" not in request.path_params
    if not v1 and not request.query_params.get("api-version"):
        return azure_error(404, "404", "Resource not found")
    if config.api_key is not None and presented_key(request) != config.api_key:
        return azure_error(401, "401", _MESSAGES[401])
    if deployment != config.model:
        return azure_error(404, "DeploymentNotFound", _MESSAGES[404])
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    for name in _VLLM_ONLY:
        if name in body:
            raise RequestError(f"Unrecognized request argument supplied: {name}")
    parsed = parse_generation({**body, "model": deployment}, chat=chat)
    status = failure_status(simulator, request.headers)
    if status:
        headers = retry_after_headers(simulator, with_ms=True) if status == 429 else {}
        return azure_error(
            status, str(status), _MESSAGES.get(status, "simulated failure"), **headers
        )
    plan = plan_for(
        simulator,
        request.headers,
        max_tokens=parsed.max_tokens,
        stop=parsed.stop,
        prompt_tokens=count_prompt_tokens(body),
    )
    recorder = simulator.recorder
    response_id = f"chatcmpl-{uuid.uuid4().hex}"
    stream = _AzureStream(response_id, config.model, chat=chat, include_usage=parsed.include_usage)

    def produce(record: Any) -> Any:
        if parsed.stream:
            return stream_producer(
                plan=plan, events=stream, started=started, recorder=recorder, record=record
            )
        answer = wire.dumps(stream.whole(plan))
        return json_producer(
            plan=plan, body=answer, started=started, recorder=recorder, record=record
        )

    return produce


class _AzureStream:
    headers = wire.SSE_HEADERS

    def __init__(self, response_id: str, model: str, *, chat: bool, include_usage: bool) -> None:
        self._id = response_id
        self._model = model
        self._chat = chat
        self._include_usage = include_usage
        self._created = int(time.time())

    def _head(self) -> dict[str, Any]:
        kind = "chat.completion.chunk" if self._chat else "text_completion"
        return {"id": self._id, "object": kind, "created": self._created, "model": self._model}

    def _choice(self, text: str | None, finish_reason: str | None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish_reason}
        if self._chat:
            choice["delta"] = {} if text is None else {"content": text}
        else:
            choice["text"] = text or ""
        choice["content_filter_results"] = {} if finish_reason else _FILTER_RESULTS
        return choice

    def opening(self) -> list[bytes]:
        # Azure's first event: no choices, only the prompt's filter results.
        first = {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [
                {"prompt_index": 0, "content_filter_results": _PROMPT_FILTER}
            ],
        }
        events = [wire.sse_event(first)]
        if self._chat:
            role = self._choice("", None)
            role["delta"] = {"role": "assistant", "content": ""}
            events.append(wire.sse_event({**self._head(), "choices": [role]}))
        return events

    def token(self, text: str) -> bytes:
        return wire.sse_event({**self._head(), "choices": [self._choice(text, None)]})

    def closing(self, last_text: str, plan: Plan) -> list[bytes]:
        events = [self.token(last_text)] if last_text else []
        events.append(
            wire.sse_event({**self._head(), "choices": [self._choice(None, plan.finish_reason)]})
        )
        if self._include_usage:
            usage = wire.usage(plan.prompt_tokens, plan.completion_tokens)
            events.append(wire.sse_event({**self._head(), "choices": [], "usage": usage}))
        return [*events, wire.DONE_EVENT]

    def failure(self, message: str) -> list[bytes]:
        return [wire.sse_event({"error": {"code": "server_error", "message": message}})]

    def whole(self, plan: Plan) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "finish_reason": plan.finish_reason}
        if self._chat:
            choice["message"] = {"role": "assistant", "content": plan.text}
        else:
            choice["text"] = plan.text
        choice["content_filter_results"] = _FILTER_RESULTS
        head = {**self._head(), "object": "chat.completion" if self._chat else "text_completion"}
        return {
            **head,
            "choices": [choice],
            "prompt_filter_results": [
                {"prompt_index": 0, "content_filter_results": _PROMPT_FILTER}
            ],
            "usage": wire.usage(plan.prompt_tokens, plan.completion_tokens),
        }
