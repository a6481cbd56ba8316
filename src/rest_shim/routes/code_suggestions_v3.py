"""POST /v3/code/completions and /v4/code/suggestions: completion or generation, chosen by the
first prompt component. v3 streams plain text; v4 streams GitLab's SSE events:

    event: stream_start   data: {"metadata": {...}}
    event: content_chunk  data: {"choices": [{"delta": {"content": "..."}, "index": 0}]}
    event: stream_end     data: null

`event` before `data` (clients depend on the order), each message ending in a blank line, with
CRLF line ends: the bytes GitLab's gateway (which frames them with sse-starlette) sends.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response

from aigw.router.v1 import router_service_pb2
from aigw_common.errors import AigwError, InvalidArgument
from aigw_common.languages import language_of
from aigw_common.platforms import platform_name
from rest_shim.dependencies import Router
from rest_shim.router_client import forwarded_metadata
from rest_shim.routes.v3_schema import (
    CodeEditorCompletion,
    CodeEditorGeneration,
    CompletionRequest,
    CompletionResponse,
    ModelMetadata,
    ResponseMetadata,
    V3Choice,
)
from rest_shim.sse import sse_event
from rest_shim.streaming import (
    TEXT_STREAM_MEDIA_TYPE,
    CancellingStreamingResponse,
    RouterStream,
    log_stream_failure,
    text_stream_response,
)

FORBIDDEN = "Unauthorized to access code suggestions"
STREAMING_FORMAT_HEADER = {"X-Streaming-Format": "sse"}

router = APIRouter(tags=["code suggestions"])


@router.post("/v3/code/completions", response_model=CompletionResponse)
async def completions_v3(payload: CompletionRequest, request: Request, client: Router) -> Any:
    """Complete or generate code; a streamed answer is plain text chunks."""
    return await _suggest(payload, request, client, sse=False)


@router.post("/v4/code/suggestions", response_model=CompletionResponse)
async def suggestions_v4(payload: CompletionRequest, request: Request, client: Router) -> Any:
    """Complete or generate code; a streamed answer is GitLab's SSE events."""
    return await _suggest(payload, request, client, sse=True)


async def _suggest(
    payload: CompletionRequest, request: Request, client: Router, *, sse: bool
) -> Response | CompletionResponse:
    component = payload.prompt_components[0]
    if not isinstance(component, CodeEditorCompletion | CodeEditorGeneration):
        raise InvalidArgument(
            "prompt_components[0]: the first component must be a code_editor_completion or a "
            "code_editor_generation",
            field="prompt_components[0].type",
        )
    editor = component.payload
    feature = (
        "code_completions" if isinstance(component, CodeEditorCompletion) else "code_generations"
    )
    lang = language_of(editor.file_name, editor.language_identifier)
    completion = router_service_pb2.Completion(
        feature=feature,
        code=router_service_pb2.CodeContext(
            file_name=editor.file_name,
            language=lang,
            content_above_cursor=editor.content_above_cursor,
            content_below_cursor=editor.content_below_cursor,
        ),
    )
    metadata = forwarded_metadata(request)
    if editor.stream:
        stream = await client.open_stream(completion, metadata, forbidden=FORBIDDEN)
        if not sse:
            return text_stream_response(stream)
        return CancellingStreamingResponse(
            stream, _sse_events(stream), TEXT_STREAM_MEDIA_TYPE, headers=STREAMING_FORMAT_HEADER
        )
    answer = await client.complete(completion, metadata, forbidden=FORBIDDEN)
    return CompletionResponse(
        choices=[V3Choice(text=answer.text)] if answer.text else [],
        metadata=ResponseMetadata(
            model=ModelMetadata(
                engine=platform_name(answer.served_by.platform),
                name=answer.served_by.model,
                lang=lang,
            ),
            timestamp=int(time.time()),
            enabled_feature_flags=[],
        ),
    )


async def _sse_events(stream: RouterStream) -> AsyncIterator[bytes]:
    # GitLab dumps its metadata without None fields: the model's engine and name (no `lang` in
    # a stream), the timestamp and the enabled feature flags (none in aigw); `region` is unset
    # for self-hosted gateways (inferred, not verified).
    served_by = stream.served_by
    start = ResponseMetadata(
        model=ModelMetadata(engine=platform_name(served_by.platform), name=served_by.model),
        timestamp=int(time.time()),
        enabled_feature_flags=[],
    )
    try:
        yield _sse("stream_start", {"metadata": start.model_dump(exclude_none=True)})
        async for chunk in stream.chunks():
            if chunk.text:
                delta = {"choices": [{"delta": {"content": chunk.text}, "index": 0}]}
                yield _sse("content_chunk", delta)
        yield _sse("stream_end", None)
    except AigwError as error:
        # No stream_end: the client sees the answer end unfinished.
        log_stream_failure(error)
    finally:
        stream.cancel()


def _sse(event: str, data: dict[str, Any] | None) -> bytes:
    return sse_event(json.dumps(data), event=event)
