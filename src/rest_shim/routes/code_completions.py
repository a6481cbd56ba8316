"""POST /v2/code/completions (and its old alias /v2/completions): code completion via the router."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from aigw.router.v1 import router_service_pb2
from rest_shim.dependencies import AppSettings, Router
from rest_shim.model_coordinates import custom_model
from rest_shim.router_client import forwarded_metadata
from rest_shim.routes.suggestions import code_context, suggestions_response
from rest_shim.routes.suggestions_schema import SuggestionsRequest, SuggestionsResponse
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
