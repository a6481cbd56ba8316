"""POST /v2/code/completions (and its old alias /v2/completions): code completion via the router."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from aigw.router.v1 import router_service_pb2
from aigw_common.languages import language_of
from aigw_common.platforms import platform_name
from rest_shim.dependencies import AppSettings, Router
from rest_shim.model_coordinates import custom_model
from rest_shim.router_client import forwarded_metadata
from rest_shim.routes.suggestions_schema import (
    Choice,
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
    return suggestions_response(answer, completion.code.language)


def code_context(current_file: CurrentFile) -> router_service_pb2.CodeContext:
    """The router's editor state for GitLab's `current_file`."""
    return router_service_pb2.CodeContext(
        file_name=current_file.file_name,
        language=language_of(current_file.file_name, current_file.language_identifier),
        content_above_cursor=current_file.content_above_cursor,
        content_below_cursor=current_file.content_below_cursor,
    )


def suggestions_response(
    answer: router_service_pb2.CompleteResponse, lang: str
) -> SuggestionsResponse:
    """GitLab's SuggestionsResponse for the router's answer; an empty text means no choice."""
    return SuggestionsResponse(
        created=int(time.time()),
        model=SuggestionModel(
            engine=platform_name(answer.served_by.platform),
            name=answer.served_by.model,
            lang=lang,
            tokens_consumption_metadata=TokensConsumption(
                input_tokens=answer.usage.input_tokens, output_tokens=answer.usage.output_tokens
            ),
        ),
        choices=[Choice(text=answer.text)] if answer.text else [],
    )
