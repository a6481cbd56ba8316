"""AWS Bedrock Runtime's Converse and ConverseStream as boto3 calls them (providers.md §3):
`POST /model/{modelId}/converse` (JSON) and `/converse-stream` (binary event stream). Errors
are `{"message": ...}` with `x-amzn-ErrorType`; SigV4 signatures are recorded, never checked.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aigw_simulator import eventstream
from aigw_simulator.faults import failure_status, plan_for, words
from aigw_simulator.http_common import read_json, start_record
from aigw_simulator.plan import Plan
from aigw_simulator.requests import RequestError
from aigw_simulator.responses import WatchedResponse, json_producer, stream_producer
from aigw_simulator.state import Simulator

_EXCEPTIONS = {
    400: ("ValidationException", "simulated failure"),
    403: ("AccessDeniedException", "You don't have access to the model with the specified "
          "model ID."),
    404: ("ResourceNotFoundException", "simulated failure"),
    408: ("ModelTimeoutException", "simulated failure"),
    424: ("ModelErrorException", "simulated failure"),
    429: ("ThrottlingException", "Too many requests, please wait before trying again."),
    500: ("InternalServerException", "simulated failure"),
    503: ("ServiceUnavailableException", "simulated failure"),
}  # fmt: skip


def routes(simulator: Simulator) -> list[Route]:
    converse = _endpoint(simulator, stream=False)
    converse_stream = _endpoint(simulator, stream=True)
    return [
        Route("/model/{model_id:path}/converse", converse, methods=["POST"]),
        Route("/model/{model_id:path}/converse-stream", converse_stream, methods=["POST"]),
    ]


def error_response(status: int, kind: str, message: str) -> Response:
    headers = {
        "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-RequestId": str(uuid.uuid4()),
    }
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def _endpoint(simulator: Simulator, *, stream: bool) -> Any:
    async def endpoint(request: Request) -> Response:
        started = asyncio.get_running_loop().time()
        body = await read_json(request)
        model_id = request.path_params["model_id"]
        record = start_record(simulator, request, body, model=model_id, stream=stream)
        try:
            answer = _answer(simulator, request, body, model_id, stream=stream, started=started)
        except RequestError as error:
            simulator.recorder.finish(record, status=error.status)
            return error_response(error.status, error.err_type, error.message)
        if isinstance(answer, Response):
            simulator.recorder.finish(record, status=answer.status_code)
            return answer
        return WatchedResponse(answer(record), simulator.recorder, record)

    return endpoint


def _answer(
    simulator: Simulator,
    request: Request,
    body: Any,
    model_id: str,
    *,
    stream: bool,
    started: float,
) -> Any:
    config = simulator.config
    if model_id != config.model:
        raise RequestError("The provided model identifier is invalid.", 400, "ValidationException")
    messages, system, inference = _parse(body)
    status = failure_status(simulator, request.headers)
    if status:
        kind, message = _EXCEPTIONS.get(status, ("ValidationException", "simulated failure"))
        return error_response(status, kind, message)
    stop = inference.get("stopSequences") or []
    plan = plan_for(
        simulator,
        request.headers,
        max_tokens=inference.get("maxTokens"),
        stop=[s for s in stop if isinstance(s, str)],
        prompt_tokens=sum(words(text) for text in [*system, *messages]),
    )
    recorder = simulator.recorder

    def produce(record: Any) -> Any:
        if stream:
            return stream_producer(
                plan=plan,
                events=_ConverseStream(),
                started=started,
                recorder=recorder,
                record=record,
            )
        return json_producer(
            plan=plan, body=_converse_body(plan), started=started, recorder=recorder, record=record
        )

    return produce


def _parse(body: Any) -> tuple[list[str], list[str], dict[str, Any]]:
    """The texts of the messages and system blocks, and inferenceConfig; ValidationException
    as Bedrock answers it for what does not fit the Converse shape."""
    if not isinstance(body, dict):
        raise RequestError(
            "Malformed input request, please reformat your input and try again.",
            400,
            "ValidationException",
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(
            "A conversation must start with a user message.", 400, "ValidationException"
        )
    texts: list[str] = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise RequestError(
                f"messages.{index}.role: must be user or assistant", 400, "ValidationException"
            )
        texts.extend(_texts(message.get("content"), f"messages.{index}.content"))
    if messages[0].get("role") != "user":
        raise RequestError(
            "A conversation must start with a user message. Try again with a conversation "
            "that starts with a user message.",
            400,
            "ValidationException",
        )
    system = _texts(body.get("system", []), "system") if "system" in body else []
    inference = body.get("inferenceConfig") or {}
    if not isinstance(inference, dict):
        raise RequestError("inferenceConfig must be an object", 400, "ValidationException")
    return texts, system, inference  # fmt: skip


def _texts(blocks: Any, field: str) -> list[str]:
    if not isinstance(blocks, list) or not all(
        isinstance(b, dict) and isinstance(b.get("text"), str) for b in blocks
    ):
        raise RequestError(f"{field}: expected a list of text blocks", 400, "ValidationException")
    return [block["text"] for block in blocks]


def _stop_reason(plan: Plan) -> str:
    if plan.finish_reason == "length":
        return "max_tokens"
    return "stop_sequence" if plan.stop_reason else "end_turn"


def _usage(plan: Plan) -> dict[str, int]:
    return {
        "inputTokens": plan.prompt_tokens,
        "outputTokens": plan.completion_tokens,
        "totalTokens": plan.prompt_tokens + plan.completion_tokens,
    }


def _converse_body(plan: Plan) -> bytes:
    return json.dumps(
        {
            "output": {"message": {"role": "assistant", "content": [{"text": plan.text}]}},
            "stopReason": _stop_reason(plan),
            "usage": _usage(plan),
            "metrics": {"latencyMs": 42},
        }
    ).encode()


class _ConverseStream:
    """ConverseStream's events; AWS pads payloads with a random "p" field, and so do we."""

    headers = [
        (b"content-type", b"application/vnd.amazon.eventstream"),
        (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
    ]

    def __init__(self) -> None:
        self._tokens = 0

    def opening(self) -> list[bytes]:
        start = eventstream.event("messageStart", {"p": "abcdefgh", "role": "assistant"})
        # Split across two writes: clients must reassemble frames from any chunking.
        return [start[:10], start[10:]]

    def token(self, text: str) -> bytes:
        self._tokens += 1
        body: dict[str, Any] = {"contentBlockIndex": 0, "delta": {"text": text}}
        if self._tokens % 2:
            body["p"] = "abcdefghijklmnopqrstuvwxyzABCDEFGH"[: self._tokens % 30]
        return eventstream.event("contentBlockDelta", body)

    def closing(self, last_text: str, plan: Plan) -> list[bytes]:
        events = [self.token(last_text)] if last_text else []
        return [
            *events,
            eventstream.event("contentBlockStop", {"contentBlockIndex": 0}),
            eventstream.event("messageStop", {"stopReason": _stop_reason(plan)}),
            eventstream.event("metadata", {"usage": _usage(plan), "metrics": {"latencyMs": 42}}),
        ]

    def failure(self, message: str) -> list[bytes]:
        # Throttling is what Bedrock most often reports inside a stream (providers.md §0.7).
        return [eventstream.exception("throttlingException", message)]
