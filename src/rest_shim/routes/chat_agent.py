"""POST /v2/chat/agent: classic Duo Chat, answered as GitLab's NDJSON event stream.

Every line is `{"type": T, "data": {...}}` (json.dumps' default separators, as GitLab's
`dump_as_response`). aigw offers the model no tools, so the answer arrives as
`final_answer_delta` events, then a `usage` event; a failure once the stream has started is an
`error` event (the status is 200 by then). Token and scope problems and malformed requests are
still HTTP errors, as in GitLab, where they are checked before the stream starts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from starlette.responses import StreamingResponse

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.errors import (
    AigwError,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from rest_shim.dependencies import AppSettings, Router
from rest_shim.errors import gitlab_words
from rest_shim.model_coordinates import custom_model
from rest_shim.router_client import forwarded_metadata
from rest_shim.routes.agent_schema import AgentMessage, AgentRequest
from rest_shim.streaming import CancellingStreamingResponse, RouterStream, log_stream_failure

FEATURE = "duo_chat"
NDJSON_MEDIA_TYPE = "application/x-ndjson; charset=utf-8"

_ROLES = {
    "system": common_pb2.ROLE_SYSTEM,
    "user": common_pb2.ROLE_USER,
    "assistant": common_pb2.ROLE_ASSISTANT,
}
# Refusals that GitLab gives before its stream starts; anything else becomes an error event.
_HTTP_ERRORS = (Unauthenticated, PermissionDenied, InvalidArgument)
_RETRYABLE = (UpstreamUnavailable, UpstreamTimeout, ResourceExhausted)

_log = structlog.get_logger(__name__)

router = APIRouter(tags=["chat"])


@router.post("/v2/chat/agent")
async def agent(
    payload: AgentRequest, request: Request, settings: AppSettings, client: Router
) -> Response:
    """Answer the conversation's last user message as NDJSON events."""
    for index, message in enumerate(payload.messages):
        if message.agent_scratchpad is not None and message.role != "assistant":
            raise InvalidArgument(
                "agent_scratchpad can only be present when role is ASSISTANT",  # GitLab's words
                field=f"messages[{index}].agent_scratchpad",
            )
    completion = router_service_pb2.Completion(
        feature=FEATURE,
        chat=router_service_pb2.Conversation(messages=_conversation(payload)),
        custom_model=(
            custom_model(payload.model_metadata.coordinates, settings.custom_models)
            if payload.model_metadata is not None
            else None
        ),
        extra_scopes=_context_scopes(payload),
    )
    try:
        stream = await client.open_stream(
            completion, forwarded_metadata(request), forbidden=_forbidden
        )
    except _HTTP_ERRORS:
        raise
    except AigwError as error:
        _log.warning("chat failed before its answer", reason=error.reason, error=error.message)
        return StreamingResponse(_once(_error_event(error)), media_type=NDJSON_MEDIA_TYPE)
    return CancellingStreamingResponse(stream, _events(stream), NDJSON_MEDIA_TYPE)


def _forbidden(error: AigwError) -> str:
    scope = error.metadata.get("scope", FEATURE)
    # GitLab's words: "duo chat" for the chat prompt, the unit primitive for attached context.
    return f"Unauthorized to access {'duo chat' if scope == FEATURE else scope}"


def _context_scopes(payload: AgentRequest) -> list[str]:
    scopes: list[str] = []
    for message in payload.messages:
        for context in message.additional_context or ():
            scope = f"include_{context.category}_context"
            if scope not in scopes:
                scopes.append(scope)
    return scopes


def _conversation(payload: AgentRequest) -> list[common_pb2.Message]:
    """GitLab's messages as chat turns; attached context goes into the turn it came with."""
    messages: list[common_pb2.Message] = []
    for message in payload.messages:
        text = _turn_text(message)
        if text:
            messages.append(common_pb2.Message(role=_ROLES[message.role], content=text))
    steps = payload.options.agent_scratchpad.steps if payload.options else []
    if steps and messages:
        # Earlier tool steps (from a gateway that offered tools) stay visible as context.
        notes = "\n\n".join(
            f"Thought: {s.thought}\nAction: {s.tool}\nAction Input: {s.tool_input}\n"
            f"Observation: {s.observation}"
            for s in steps
        )
        messages.append(common_pb2.Message(role=common_pb2.ROLE_USER, content=notes))
    return messages


def _turn_text(message: AgentMessage) -> str:
    parts = [message.content or ""]
    if message.context is not None:
        parts.append(f"Current {message.context.type}:\n{message.context.content}")
    if message.current_file is not None:
        what = "Selected code" if message.current_file.selected_code else "File"
        parts.append(f"{what} from {message.current_file.file_path}:\n{message.current_file.data}")
    for context in message.additional_context or ():
        label = f"{context.category} {context.id}" if context.id else context.category
        parts.append(f"Attached {label}:\n{context.content or ''}")
    if message.resource_content:
        parts.append(message.resource_content)
    return "\n\n".join(part for part in parts if part)


async def _events(stream: RouterStream) -> AsyncIterator[bytes]:
    model = stream.served_by.model or FEATURE
    usage: common_pb2.TokenUsage | None = None
    try:
        async for chunk in stream.chunks():
            if chunk.text:
                yield _event("final_answer_delta", {"text": chunk.text})
            if chunk.HasField("usage"):
                usage = chunk.usage
        if usage is not None:
            tokens = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
            yield _event("usage", {"usage": {model: tokens}})
    except AigwError as error:
        log_stream_failure(error)
        yield _error_event(error)
    finally:
        stream.cancel()


def _error_event(error: AigwError) -> bytes:
    # The words GitLab's table gives this error: model and transport details stay in the log.
    return _event(
        "error", {"message": gitlab_words(error), "retryable": isinstance(error, _RETRYABLE)}
    )


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return (json.dumps({"type": kind, "data": data}) + "\n").encode()


async def _once(line: bytes) -> AsyncIterator[bytes]:
    yield line
