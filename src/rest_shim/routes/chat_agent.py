"""POST /v2/chat/agent: classic Duo Chat, GitLab's ReAct agent, answered as NDJSON events.

The router runs the agent (router_svc/agent); this route only turns GitLab's body into a
StreamAgentRequest and frames the router's events as GitLab's lines: `{"type": T, "data": {...}}`
with json.dumps' default separators, one per line. Refusals (token, scope, malformed body, a
family without an agent prompt) are HTTP errors, decided before the stream starts; once it has
started, a failure is an `error` event and the stream ends cleanly.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.responses import StreamingResponse

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.errors import (
    AigwError,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    UpstreamUnavailable,
)
from rest_shim.dependencies import AppSettings, Router
from rest_shim.errors import gitlab_words
from rest_shim.model_coordinates import custom_model
from rest_shim.router_client import AgentStream, forwarded_metadata
from rest_shim.routes.agent_schema import AgentMessage, AgentRequest, ScratchpadStep, ToolAction
from rest_shim.streaming import CancellingStreamingResponse, log_stream_failure

FEATURE = "duo_chat"
NDJSON_MEDIA_TYPE = "application/x-ndjson; charset=utf-8"
# What GitLab's gateway assumes when the body names no unavailable resources (one string).
DEFAULT_UNAVAILABLE_RESOURCES = ("Merge Requests, Pipelines, Vulnerabilities",)
VERSION_HEADER = "x-gitlab-version"
FEATURE_FLAGS_HEADER = "x-gitlab-enabled-feature-flags"

_ROLES = {
    "system": common_pb2.ROLE_SYSTEM,
    "user": common_pb2.ROLE_USER,
    "assistant": common_pb2.ROLE_ASSISTANT,
}
# Refusals that GitLab gives before its stream starts; anything else becomes an error event.
_HTTP_ERRORS = (Unauthenticated, PermissionDenied)
# Failures of the router itself (its model failures arrive as events) worth a retry by Rails.
_RETRYABLE = (UpstreamUnavailable, ResourceExhausted)

_log = structlog.get_logger(__name__)

router = APIRouter(tags=["chat"])


@router.post("/v2/chat/agent")
async def agent(
    payload: AgentRequest, request: Request, settings: AppSettings, client: Router
) -> Response:
    """The agent's next move for the conversation's last user message, as NDJSON events."""
    agent_request = _agent_request(payload, request, settings)
    try:
        stream, first = await client.open_agent(
            agent_request, forwarded_metadata(request), forbidden=_forbidden
        )
    except InvalidArgument as error:
        raise _validation_error(error) from None
    except _HTTP_ERRORS:
        raise
    except AigwError as error:
        _log.warning("chat failed before its answer", reason=error.reason, error=error.message)
        return StreamingResponse(_once(_error_event(error)), media_type=NDJSON_MEDIA_TYPE)
    if first is None:
        return StreamingResponse(_once(b""), media_type=NDJSON_MEDIA_TYPE)
    return CancellingStreamingResponse(stream, _lines(first, stream), NDJSON_MEDIA_TYPE)


def _agent_request(
    payload: AgentRequest, request: Request, settings: AppSettings
) -> router_service_pb2.StreamAgentRequest:
    messages = list(payload.messages)
    for index, message in enumerate(messages):
        if message.agent_scratchpad is not None and message.role != "assistant":
            raise InvalidArgument(
                "agent_scratchpad can only be present when role is ASSISTANT",  # GitLab's words
                field=f"messages[{index}].agent_scratchpad",
            )
    steps: list[ScratchpadStep] = []
    if payload.options is not None:
        steps = payload.options.agent_scratchpad.steps
    elif messages[-1].agent_scratchpad is not None and not messages[-1].content:
        # Later Rails: the steps ride on a trailing assistant message without content.
        steps = [
            ScratchpadStep(
                **(step.action or ToolAction()).model_dump(), observation=step.observation
            )
            for step in messages.pop().agent_scratchpad or ()
        ]
    flags = request.headers.get(FEATURE_FLAGS_HEADER, "")
    return router_service_pb2.StreamAgentRequest(
        messages=[_message(message) for message in messages],
        steps=[
            router_service_pb2.AgentStep(
                # Rails stores steps Markdown-escaped (`issue\_reader`).
                thought=step.thought.replace("\\_", "_"),
                tool=step.tool.replace("\\_", "_"),
                tool_input=step.tool_input,
                observation=step.observation,
            )
            for step in steps
        ],
        custom_model=(
            custom_model(payload.model_metadata.coordinates, settings.custom_models)
            if payload.model_metadata is not None
            else None
        ),
        unavailable_resources=(
            DEFAULT_UNAVAILABLE_RESOURCES
            if payload.unavailable_resources is None
            else payload.unavailable_resources
        ),
        gitlab_version=request.headers.get(VERSION_HEADER, ""),
        feature_flags=[flag.strip() for flag in flags.split(",") if flag.strip()],
    )


def _message(message: AgentMessage) -> router_service_pb2.AgentMessage:
    converted = router_service_pb2.AgentMessage(
        role=_ROLES[message.role], content=message.content or ""
    )
    if message.context is not None:
        converted.page.type = message.context.type
        converted.page.content = message.context.content
    if message.current_file is not None:
        converted.current_file.file_path = message.current_file.file_path
        converted.current_file.data = message.current_file.data
        converted.current_file.selected_code = message.current_file.selected_code
    for item in message.additional_context or ():
        converted.additional_context.add(
            category=item.category, id=item.id or "", content=item.content or ""
        )
    return converted


def _forbidden(error: AigwError) -> str:
    scope = error.metadata.get("scope", FEATURE)
    # GitLab's words: "duo chat" for the chat prompt, the unit primitive for attached context.
    return f"Unauthorized to access {'duo chat' if scope == FEATURE else scope}"


def _validation_error(error: InvalidArgument) -> RequestValidationError:
    """The router's refusal of the body, reported as FastAPI reports the body's own faults."""
    field = error.field or ""
    if "custom_model" in field:
        location: list[str | int] = ["model_metadata", "name"]
    else:
        location = [int(part) if part.isdigit() else part for part in _FIELD_PARTS.findall(field)]
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", *location), "msg": error.message}]
    )


_FIELD_PARTS = re.compile(r"[A-Za-z_]+|\d+")


async def _lines(
    first: router_service_pb2.StreamAgentResponse, stream: AgentStream
) -> AsyncIterator[bytes]:
    model = first.served_by.model or FEATURE
    try:
        yield _event_line(first, model)
        async for event in stream.events():
            yield _event_line(event, model)
    except AigwError as error:
        log_stream_failure(error)
        yield _error_event(error)
    finally:
        stream.cancel()


def _event_line(event: router_service_pb2.StreamAgentResponse, model: str) -> bytes:
    kind = event.WhichOneof("event")
    data: dict[str, Any]
    if kind == "final_answer_delta":
        data = {"text": event.final_answer_delta.text}
    elif kind == "action":
        action = event.action
        data = {"tool": action.tool, "tool_input": action.tool_input, "thought": action.thought}
    elif kind == "unknown":
        data = {"text": event.unknown.text}
    elif kind == "error":
        data = {"message": event.error.message, "retryable": event.error.retryable}
    elif kind == "usage":
        usage = event.usage
        tokens = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
        data = {"usage": {model: tokens}}
    else:
        return b""  # an event this shim does not know yet
    return _event(kind, data)


def _error_event(error: AigwError) -> bytes:
    # The router's own failures (its model failures arrive as events), in the words GitLab's
    # error table gives them: details stay in the log.
    return _event(
        "error", {"message": gitlab_words(error), "retryable": isinstance(error, _RETRYABLE)}
    )


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return (json.dumps({"type": kind, "data": data}) + "\n").encode()


async def _once(line: bytes) -> AsyncIterator[bytes]:
    yield line
