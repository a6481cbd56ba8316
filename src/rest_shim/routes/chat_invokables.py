"""POST /v1/chat/{chat_invokable}: one model call with a prompt GitLab Rails prepared."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.errors import AigwError, NotFound
from aigw_common.platforms import platform_name
from rest_shim.dependencies import AppSettings, Router
from rest_shim.model_coordinates import custom_model
from rest_shim.router_client import forwarded_metadata
from rest_shim.routes.chat_schema import ChatRequest, ChatResponse, ChatResponseMetadata
from rest_shim.streaming import text_stream_response

# GitLab's invokables and the aigw feature each one is served by. The scope is the feature's
# unit primitive (catalog.py); GitLab checks `duo_chat` for explain_code, write_tests and
# refactor_code, which a GitLab instance's token carries together with those three.
FEATURES = {
    "agent": "duo_chat",
    "explain_code": "duo_chat_explain_code",
    "write_tests": "duo_chat_write_tests",
    "refactor_code": "duo_chat_refactor_code",
    "explain_vulnerability": "duo_chat_explain_vulnerability",
    "summarize_comments": "duo_chat_summarize_comments",
    "troubleshoot_job": "duo_chat_troubleshoot_job",
}

_ROLES = {
    "system": common_pb2.ROLE_SYSTEM,
    "user": common_pb2.ROLE_USER,
    "assistant": common_pb2.ROLE_ASSISTANT,
}

router = APIRouter(tags=["chat"])


@router.post("/v1/chat/{chat_invokable}", response_model=ChatResponse)
async def chat(
    chat_invokable: str,
    payload: ChatRequest,
    request: Request,
    settings: AppSettings,
    client: Router,
) -> Response | ChatResponse:
    """Send the prepared prompt to the invokable's model; `stream: true` gives plain text."""
    feature = FEATURES.get(chat_invokable)
    if feature is None:
        raise NotFound("Not found")  # GitLab's exact answer
    prompt = payload.prompt_components[0].payload
    # Rails prepared the whole prompt: GitLab sends it to the model as it is, with its chat
    # model's defaults for the serving family.
    completion = router_service_pb2.Completion(
        feature=feature,
        verbatim=True,
        prepared_prompt_defaults=True,
        custom_model=custom_model(payload.coordinates, settings.custom_models),
    )
    if isinstance(prompt.content, str):
        completion.chat.messages.add(role=common_pb2.ROLE_USER, content=prompt.content)
    else:
        for message in prompt.content:
            completion.chat.messages.add(role=_ROLES[message.role], content=message.content)
    metadata = forwarded_metadata(request)
    if payload.stream:
        stream = await client.open_stream(completion, metadata, forbidden=_forbidden)
        return text_stream_response(stream)
    answer = await client.complete(completion, metadata, forbidden=_forbidden)
    return ChatResponse(
        response=answer.text,
        metadata=ChatResponseMetadata(
            provider=prompt.provider or platform_name(answer.served_by.platform),
            model=prompt.model or answer.served_by.model,
            timestamp=int(time.time()),
        ),
    )


def _forbidden(error: AigwError) -> str:
    # GitLab: f"Unauthorized to access {unit_primitive}".
    return f"Unauthorized to access {error.metadata.get('scope', 'duo_chat')}"
