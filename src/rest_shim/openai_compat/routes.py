"""POST /v1/chat/completions, POST /v1/completions and GET /v1/models, as OpenAI's API.

`model` names a configured model (the caller's token must hold the scope of a feature that
model serves: naming a model grants nothing more) or `feature:<name>` to use whichever model
serves that feature. Messages and prompts go to the model as given.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.errors import AigwError
from rest_shim.dependencies import Router
from rest_shim.openai_compat.errors import OpenAIRoute
from rest_shim.openai_compat.schema import (
    FEATURE_PREFIX,
    ChatCompletionRequest,
    CompletionRequest,
)
from rest_shim.openai_compat.streaming import StreamShape, finish_reason, sse_response, usage_body
from rest_shim.router_client import RouterClient, forwarded_metadata

_ROLES = {
    "system": common_pb2.ROLE_SYSTEM,
    "developer": common_pb2.ROLE_SYSTEM,
    "user": common_pb2.ROLE_USER,
    "assistant": common_pb2.ROLE_ASSISTANT,
}

router = APIRouter(route_class=OpenAIRoute, tags=["OpenAI compatible"])


@router.post("/v1/chat/completions")
async def chat_completions(
    body: ChatCompletionRequest, request: Request, client: Router
) -> Response:
    """A chat completion; with `stream: true`, OpenAI's SSE chunks ending in `[DONE]`."""
    completion = _addressed(body.model, body.token_limit, body)
    for message in body.messages:
        completion.chat.messages.add(role=_ROLES[message.role], content=message.text)
    return await _answer(
        body,
        completion,
        request,
        client,
        objects=("chat.completion.chunk", "chat.completion"),
        id_prefix="chatcmpl",
        choice=lambda text: {"message": {"role": "assistant", "content": text}},
    )


@router.post("/v1/completions")
async def completions(body: CompletionRequest, request: Request, client: Router) -> Response:
    """A text completion; with `stream: true`, OpenAI's SSE chunks ending in `[DONE]`."""
    completion = _addressed(body.model, body.max_tokens, body)
    completion.prompt = body.prompt_text
    return await _answer(
        body,
        completion,
        request,
        client,
        objects=("text_completion", "text_completion"),
        id_prefix="cmpl",
        choice=lambda text: {"text": text},
    )


async def _answer(
    body: ChatCompletionRequest | CompletionRequest,
    completion: router_service_pb2.Completion,
    request: Request,
    client: RouterClient,
    *,
    objects: tuple[str, str],
    id_prefix: str,
    choice: Callable[[str], dict[str, Any]],
) -> Response:
    """The router's answer as OpenAI's: SSE chunks of `objects[0]` when streamed, else one
    `objects[1]` whose choice holds `choice(text)`."""
    shape = StreamShape(
        object=objects[0],
        id=f"{id_prefix}-{uuid.uuid4().hex}",
        model=body.model,
        created=int(time.time()),
        include_usage=body.include_usage,
    )
    metadata = forwarded_metadata(request)
    if body.stream:
        stream = await client.open_stream(completion, metadata, forbidden=_router_words)
        return sse_response(stream, shape)
    answer = await client.complete(completion, metadata, forbidden=_router_words)
    whole_choice = {
        **choice(answer.text),
        "index": 0,
        "logprobs": None,
        "finish_reason": finish_reason(answer.finish_reason),
    }
    return JSONResponse(_whole(shape, objects[1], whole_choice, answer.usage))


@router.get("/v1/models")
async def models(request: Request, client: Router) -> Response:
    """The models the caller may name, then `feature:<name>` for each feature they serve."""
    addressable = await client.list_models(forwarded_metadata(request))
    features = sorted({feature for model in addressable for feature in model.features})
    ids = [model.name for model in addressable] + [f"{FEATURE_PREFIX}{f}" for f in features]
    data = [{"id": i, "object": "model", "created": 0, "owned_by": "aigw"} for i in ids]
    return JSONResponse({"object": "list", "data": data})


def _addressed(
    model: str, max_tokens: int | None, body: ChatCompletionRequest | CompletionRequest
) -> router_service_pb2.Completion:
    if model.startswith(FEATURE_PREFIX):
        completion = router_service_pb2.Completion(
            feature=model.removeprefix(FEATURE_PREFIX), verbatim=True
        )
    else:
        completion = router_service_pb2.Completion(model=model)
    parameters = completion.parameters
    if max_tokens is not None:
        parameters.max_tokens = max_tokens
    if body.temperature is not None:
        parameters.temperature = body.temperature
    if body.top_p is not None:
        parameters.top_p = body.top_p
    parameters.stop_sequences.extend(body.stop_sequences)
    return completion


def _whole(
    shape: StreamShape, kind: str, choice: dict[str, Any], usage: common_pb2.TokenUsage
) -> dict[str, Any]:
    return {
        "id": shape.id,
        "object": kind,
        "created": shape.created,
        "model": shape.model,
        "choices": [choice],
        "usage": usage_body(usage),
    }


def _router_words(error: AigwError) -> str:
    return error.message
