"""POST /v2/code/completions (and its old alias /v2/completions): code completion via the router."""

from __future__ import annotations

import time
from collections.abc import Sequence

from fastapi import APIRouter, Request, Response

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.languages import language_of
from aigw_prompts.trimming import estimated_tokens
from rest_shim.dependencies import AppSettings, Router
from rest_shim.model_coordinates import custom_model
from rest_shim.router_client import forwarded_metadata
from rest_shim.routes.suggestions_schema import (
    Choice,
    ContextItem,
    CurrentFile,
    SuggestionModel,
    SuggestionsRequest,
    SuggestionsResponse,
    TokensConsumption,
)
from rest_shim.streaming import text_stream_response

FEATURE = "code_completions"
FORBIDDEN = "Unauthorized to access code completions"

router = APIRouter(tags=["code suggestions"])


@router.post("/v2/code/completions", response_model=SuggestionsResponse)
@router.post("/v2/completions", response_model=SuggestionsResponse)
async def completions(
    payload: SuggestionsRequest, request: Request, settings: AppSettings, client: Router
) -> Response | SuggestionsResponse:
    """Complete the code at the cursor; with `stream: true` the answer is plain text chunks."""
    completion = router_service_pb2.Completion(
        feature=FEATURE,
        code=code_context(payload.current_file),
        custom_model=custom_model(payload.coordinates, settings.custom_models),
    )
    metadata = forwarded_metadata(request)
    if payload.stream:
        stream = await client.open_stream(completion, metadata, forbidden=FORBIDDEN)
        return text_stream_response(stream)
    answer = await client.complete(completion, metadata, forbidden=FORBIDDEN)
    return suggestions_response(answer, completion.code.language, payload.context)


def code_context(current_file: CurrentFile) -> router_service_pb2.CodeContext:
    """The router's editor state for GitLab's `current_file`."""
    return router_service_pb2.CodeContext(
        file_name=current_file.file_name,
        language=language_of(current_file.file_name, current_file.language_identifier),
        content_above_cursor=current_file.content_above_cursor,
        content_below_cursor=current_file.content_below_cursor,
    )


def suggestions_response(
    answer: router_service_pb2.CompleteResponse, lang: str, context: Sequence[ContextItem]
) -> SuggestionsResponse:
    """GitLab's SuggestionsResponse for the router's answer; an empty text means no choice."""
    usage = None
    if answer.text:
        usage = TokensConsumption(
            input_tokens=answer.usage.input_tokens,
            output_tokens=answer.usage.output_tokens,
            max_output_tokens_used=answer.finish_reason == common_pb2.FINISH_REASON_LENGTH,
            context_tokens_sent=sum(estimated_tokens(item.content) for item in context),
            context_tokens_used=0,
        )
    return SuggestionsResponse(
        created=int(time.time()),
        model=SuggestionModel(
            engine=platform_name(answer.served_by.platform),
            name=answer.served_by.model,
            lang=lang,
            tokens_consumption_metadata=usage,
        ),
        choices=[Choice(text=answer.text)] if answer.text else [],
    )


def platform_name(platform: common_pb2.Platform.ValueType) -> str:
    """The platform's short name, e.g. `openai_compatible`; empty when unspecified.

    GitLab reports its LiteLLM engine name as `model.engine` (the exact string is unverified);
    clients only display it, so aigw names the platform that served the answer.
    """
    if platform == common_pb2.PLATFORM_UNSPECIFIED:
        return ""
    return common_pb2.Platform.Name(platform).removeprefix("PLATFORM_").lower()
