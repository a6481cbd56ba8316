"""POST /v2/code/generations: code generation via the router (also the troubleshooting script's
model check)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from rest_shim.dependencies import AppSettings, Router
from rest_shim.model_coordinates import custom_model
from rest_shim.router_client import forwarded_metadata
from rest_shim.routes.suggestions import code_context, on_next_line, suggestions_response
from rest_shim.routes.suggestions_schema import (
    GenerationsRequest,
    PromptMessage,
    SuggestionsResponse,
)
from rest_shim.streaming import text_stream_response

FEATURE = "code_generations"
FORBIDDEN = "Unauthorized to access code generations"

_ROLES = {
    "system": common_pb2.ROLE_SYSTEM,
    "user": common_pb2.ROLE_USER,
    "assistant": common_pb2.ROLE_ASSISTANT,
}

router = APIRouter(tags=["code suggestions"])


@router.post("/v2/code/generations", response_model=SuggestionsResponse)
async def generations(
    payload: GenerationsRequest, request: Request, settings: AppSettings, client: Router
) -> Response | SuggestionsResponse:
    """Generate code at the cursor; with `stream: true` the answer is plain text chunks."""
    completion = router_service_pb2.Completion(
        feature=FEATURE,
        custom_model=custom_model(payload.coordinates, settings.custom_models),
    )
    if payload.prompt_id or not payload.prompt:
        # The gateway's own prompt for the editor state (with a prompt_id, Rails' self-hosted
        # requests and the troubleshooting script send `prompt: ""`).
        completion.code.CopyFrom(code_context(payload.current_file))
    else:
        # A prompt the client prepared itself goes to the model as it is (GitLab's
        # `with_prompt_prepared`): a string for prompt_version 2, messages for 3, with the
        # parameters GitLab's gateway gives such prompts.
        completion.verbatim = True
        completion.prepared_prompt_defaults = True
        if isinstance(payload.prompt, str):
            completion.prompt = payload.prompt
        else:
            completion.chat.messages.extend(_message(m) for m in payload.prompt)
    metadata = forwarded_metadata(request)
    if payload.stream:
        stream = await client.open_stream(completion, metadata, forbidden=FORBIDDEN)
        return text_stream_response(stream)
    answer = await client.complete(completion, metadata, forbidden=FORBIDDEN)
    answer.text = on_next_line(payload.current_file.content_above_cursor, answer.text)
    return suggestions_response(
        answer, completion.code.language or _language(payload), payload.context
    )


def _message(message: PromptMessage) -> common_pb2.Message:
    return common_pb2.Message(role=_ROLES[message.role], content=message.content)


def _language(payload: GenerationsRequest) -> str:
    return code_context(payload.current_file).language
