"""The simulator's HTTP app: vLLM's OpenAI-compatible routes, Azure OpenAI's, Bedrock
Runtime's and Anthropic's (each in its own module), plus `/_simulator/requests`.

Faults and per-request overrides are in faults.py.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aigw_simulator import anthropic, azure, bedrock, scripted, wire
from aigw_simulator.config import SimulatorConfig
from aigw_simulator.faults import failure_status, pace_for, plan_for, retry_after_headers
from aigw_simulator.plan import count_prompt_tokens
from aigw_simulator.recorded import RecordedAnswers
from aigw_simulator.recording import Recorder, RequestRecord
from aigw_simulator.requests import RequestError, check_context, parse_generation
from aigw_simulator.responses import WatchedResponse, json_producer, stream_producer
from aigw_simulator.state import Simulator

_FAIL_TYPES = {429: "RateLimitError", 503: "ServiceUnavailableError"}


def build_app(config: SimulatorConfig | None = None) -> Starlette:
    """A Starlette app that behaves like a vLLM OpenAI-compatible server (see providers.md §1)."""
    config = config or SimulatorConfig()
    simulator = Simulator(config, Recorder(config.max_records))
    if config.answers_file is not None:
        simulator.answers = RecordedAnswers.load(config.answers_file)
    routes = [
        Route("/v1/chat/completions", _generation(simulator, chat=True), methods=["POST"]),
        Route("/v1/completions", _generation(simulator, chat=False), methods=["POST"]),
        Route("/v1/models", _models(simulator), methods=["GET"]),
        Route("/health", _health, methods=["GET"]),
        Route("/_simulator/requests", _records(simulator), methods=["GET", "DELETE"]),
        Route(
            "/_simulator/replies",
            scripted.endpoint(simulator),
            methods=["GET", "POST", "DELETE"],
        ),
        *azure.routes(simulator),
        *bedrock.routes(simulator),
        *anthropic.routes(simulator),
    ]
    app = Starlette(routes=routes)
    app.state.simulator = simulator
    app.add_middleware(_RequestIdMiddleware)
    return app


def simulator_of(app: Starlette) -> Simulator:
    """The state behind an app made by `build_app`."""
    simulator: Simulator = app.state.simulator
    return simulator


async def _health(_: Request) -> Response:
    return Response(status_code=200)


def _records(simulator: Simulator) -> Any:
    async def endpoint(request: Request) -> Response:
        if request.method == "DELETE":
            simulator.recorder.clear()
            return Response(status_code=204)
        return JSONResponse(simulator.recorder.snapshot())

    return endpoint


def _models(simulator: Simulator) -> Any:
    async def endpoint(request: Request) -> Response:
        record = _start_record(simulator, request, None)
        config = simulator.config
        if (denied := _check_auth(config, request)) is not None:
            simulator.recorder.finish(record, status=denied.status_code)
            return denied
        simulator.recorder.finish(record)
        body = wire.model_list(config.model, int(time.time()), config.max_model_len)
        return Response(body, media_type="application/json")

    return endpoint


def _generation(simulator: Simulator, *, chat: bool) -> Any:
    async def endpoint(request: Request) -> Response:
        started = asyncio.get_running_loop().time()
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        record = _start_record(simulator, request, body)
        config = simulator.config
        if not chat and config.chat_only:
            # What a server without the route answers (FastAPI's default 404).
            simulator.recorder.finish(record, status=404)
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        if (denied := _check_auth(config, request)) is not None:
            simulator.recorder.finish(record, status=denied.status_code)
            return denied
        try:
            return _answer(simulator, request, body, chat=chat, started=started, record=record)
        except RequestError as error:
            simulator.recorder.finish(record, status=error.status)
            return _error(config, error)

    return endpoint


def _answer(
    simulator: Simulator,
    request: Request,
    body: Any,
    *,
    chat: bool,
    started: float,
    record: RequestRecord,
) -> Response:
    config = simulator.config
    parsed = parse_generation(body, chat=chat, max_stop_strings=config.max_stop_strings)
    if parsed.model != config.model:
        raise RequestError(
            f"The model `{parsed.model}` does not exist. Valid aliases: {config.model}.",
            status=404,
            err_type="NotFoundError",
            param="model",
        )
    if not chat and body.get("suffix") is not None:
        raise RequestError(
            "suffix is only supported for models with FIM completion rendering", param="suffix"
        )
    headers = request.headers
    reply = simulator.script.take() or simulator.answers.reply_for(body)
    if reply is not None and (failure := reply.failure()) is not None:
        simulator.recorder.finish(record, status=failure.status_code)
        return failure
    fail_status = 0 if reply is not None else failure_status(simulator, headers)
    if fail_status:
        simulator.recorder.finish(record, status=fail_status)
        if fail_status == 500:  # a dead vLLM engine answers 500 with an empty body
            return Response(status_code=500)
        err_type = _FAIL_TYPES.get(fail_status, "BadRequestError")
        body = wire.error_body("simulated failure", err_type, fail_status, config.error_shape)
        return JSONResponse(
            body,
            status_code=fail_status,
            headers=retry_after_headers(simulator, with_ms=False),
        )
    prompt_tokens = count_prompt_tokens(body)
    answer_limit = check_context(prompt_tokens, parsed.max_tokens, config.max_model_len)
    if reply is not None:
        plan = reply.plan(
            max_tokens=answer_limit,
            stop=parsed.stop,
            prompt_tokens=prompt_tokens,
            pace=pace_for(simulator, headers),
        )
    else:
        plan = plan_for(
            simulator,
            headers,
            max_tokens=answer_limit,
            stop=parsed.stop,
            prompt_tokens=prompt_tokens,
        )
    prefix = "chatcmpl" if chat else "cmpl"
    response_id = f"{prefix}-{uuid.uuid4().hex}"
    created = int(time.time())
    recorder = simulator.recorder
    if parsed.stream:
        stream_type = wire.ChatStream if chat else wire.CompletionStream
        produce = stream_producer(
            plan=plan,
            events=stream_type(
                response_id, created, config.model, include_usage=parsed.include_usage
            ),
            started=started,
            recorder=recorder,
            record=record,
        )
    else:
        render = wire.chat_response if chat else wire.completion_response
        answer = render(
            response_id,
            created,
            config.model,
            plan.text,
            plan.finish_reason,
            plan.stop_reason,
            plan.prompt_tokens,
            plan.completion_tokens,
        )
        produce = json_producer(
            plan=plan, body=answer, started=started, recorder=recorder, record=record
        )
    return WatchedResponse(produce, recorder, record)


def _start_record(simulator: Simulator, request: Request, body: Any) -> RequestRecord:
    return simulator.recorder.start(
        path=request.url.path,
        body=body,
        request_id=request.headers.get("x-request-id"),
        traceparent=request.headers.get("traceparent"),
        authorization_present="authorization" in request.headers,
        client=f"{request.client.host}:{request.client.port}" if request.client else None,
    )


def _check_auth(config: SimulatorConfig, request: Request) -> Response | None:
    if config.api_key is None:
        return None
    if request.headers.get("authorization") == f"Bearer {config.api_key}":
        return None
    return JSONResponse({"error": "Unauthorized"}, status_code=401)


def _error(config: SimulatorConfig, error: RequestError) -> Response:
    body = wire.error_body(
        error.message, error.err_type, error.status, config.error_shape, error.param
    )
    return JSONResponse(body, status_code=error.status)


class _RequestIdMiddleware:
    """Echoes `X-Request-Id` on every response, or sends a fresh one (as vLLM does)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id")
        request_id = given or uuid.uuid4().hex.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-request-id", request_id)]
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, send_with_id)
