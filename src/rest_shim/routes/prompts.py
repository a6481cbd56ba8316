"""POST /v1/prompts/{prompt_id:path}: run one of the router's named prompts with its inputs
(used by many GitLab Duo features and by Rails' "Test connection" via model_configuration/check).
"""

from __future__ import annotations

import http.client
import re
from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import struct_pb2

from aigw.router.v1 import router_service_pb2
from aigw_common.errors import AigwError, InvalidArgument, UpstreamError
from rest_shim.dependencies import AppSettings, Router
from rest_shim.errors import error_response
from rest_shim.model_coordinates import custom_model
from rest_shim.router_client import forwarded_metadata
from rest_shim.routes.prompts_schema import PromptRequest
from rest_shim.streaming import text_stream_response

INVALID_VERSION_CONSTRAINT = "Invalid version constraint"

# Poetry-style semver constraints as GitLab's registry parses them ("^1.0.0", ">=1.0, <2",
# "1.0.0-dev"). aigw keeps one version of each prompt, so a well-formed constraint is accepted
# without being matched against versions.
_VERSION = r"\d+(?:\.(?:\d+|\*)){0,2}(?:-?[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)?"
_ONE = rf"(?:\^|~=|~|>=|<=|>|<|==|=|!=)?\s*{_VERSION}"
_CONSTRAINT = re.compile(rf"\s*(?:\*|{_ONE}(?:\s*(?:,|\|\||\s)\s*{_ONE})*)\s*")

router = APIRouter(tags=["prompts"])
_log = structlog.get_logger(__name__)


@router.post("/v1/prompts/{prompt_id:path}", response_model=str)
async def invoke(
    prompt_id: Annotated[str, Path(max_length=255)],
    payload: PromptRequest,
    request: Request,
    settings: AppSettings,
    client: Router,
) -> Response | str:
    """The model's answer to the prompt as a JSON string; `stream: true` gives plain text."""
    if payload.prompt_version is not None and not _CONSTRAINT.fullmatch(payload.prompt_version):
        return JSONResponse({"detail": INVALID_VERSION_CONSTRAINT}, status_code=422)
    inputs = struct_pb2.Struct()
    try:
        inputs.update(payload.inputs)
    except (ValueError, TypeError) as error:
        raise InvalidArgument(f"inputs: {error}", field="inputs") from None
    completion = router_service_pb2.Completion(
        invocation=router_service_pb2.PromptInvocation(prompt_id=prompt_id, inputs=inputs),
        custom_model=(
            custom_model(payload.model_metadata.coordinates, settings.custom_models)
            if payload.model_metadata is not None
            else None
        ),
    )
    metadata = forwarded_metadata(request)
    forbidden = f"Unauthorized to access '{prompt_id}'"
    try:
        if payload.stream:
            stream = await client.open_stream(completion, metadata, forbidden=forbidden)
            return text_stream_response(stream)
        answer = await client.complete(completion, metadata, forbidden=forbidden)
    except UpstreamError as error:
        return _model_failed(error)
    return answer.text


def _model_failed(error: AigwError) -> JSONResponse:
    """GitLab answers 421 "<code>: <reason>" when the model server answered with an HTTP error,
    to tell "the model failed" from "the gateway failed"; other failures are the usual 503."""
    status = error.metadata.get("http_status", "")
    if not status.isdigit() or int(status) not in http.client.responses:
        return error_response(error)
    code = int(status)
    _log.warning("model call failed", status=421, reason=error.reason, error=error.message)
    return JSONResponse({"detail": f"{code}: {http.client.responses[code]}"}, status_code=421)
