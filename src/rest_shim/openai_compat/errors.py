"""Errors of the OpenAI-compatible routes, as OpenAI's error object:

    {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}

Every failure on these routes (validation, router refusals, model failures) passes through
`OpenAIRoute`, so the GitLab-shaped handlers of the rest of the app never answer here. Model
and upstream details stay in the log; the message gives the request id to find them.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from aigw_common import errors
from aigw_common.request_context import request_id_var
from rest_shim.errors import (
    INFERENCE_FAILED,
    INTERNAL_ERROR,
    Answer,
    Words,
    log_answer,
    row_for,
    servers_words,
    validation_detail,
)

_log = structlog.get_logger(__name__)

# Router field paths and the request field a caller knows them by.
_PARAMS = {
    "completion.feature": "model",
    "completion.model": "model",
    "completion.chat": "messages",
    "completion.prompt": "prompt",
}


def _with_request_id(words: str) -> Words:
    # The request id finds the detail in the log.
    return lambda _: f"{words} (request id {request_id_var.get()})"


@dataclass(frozen=True)
class OpenAIAnswer(Answer):
    """A row of the table, with OpenAI's error `type` and `code`."""

    kind: str = "invalid_request_error"
    code: str | None = None
    # Whether `param` names the request field the error is about.
    names_param: bool = True


_SERVER_ERROR = "server_error"
OPENAI_ERRORS: Mapping[type[errors.AigwError], OpenAIAnswer] = {
    errors.AigwError: OpenAIAnswer(
        500, _with_request_id(INTERNAL_ERROR), _SERVER_ERROR, names_param=False
    ),
    errors.InvalidArgument: OpenAIAnswer(400),
    errors.Unauthenticated: OpenAIAnswer(401, code="invalid_api_key"),
    errors.PermissionDenied: OpenAIAnswer(
        403, kind="permission_error", code="insufficient_permissions"
    ),
    errors.NotFound: OpenAIAnswer(404, code="model_not_found"),
    errors.AlreadyExists: OpenAIAnswer(409),
    errors.FailedPrecondition: OpenAIAnswer(400),
    errors.FeatureUnavailable: OpenAIAnswer(503, kind=_SERVER_ERROR, code="feature_unavailable"),
    errors.Aborted: OpenAIAnswer(409),
    errors.ResourceExhausted: OpenAIAnswer(
        429, kind="rate_limit_error", code="rate_limit_exceeded"
    ),
    errors.Cancelled: OpenAIAnswer(499),
    errors.UpstreamError: OpenAIAnswer(
        503, _with_request_id(INFERENCE_FAILED), _SERVER_ERROR, names_param=False
    ),
    errors.UpstreamTimeout: OpenAIAnswer(
        504, _with_request_id(INFERENCE_FAILED), _SERVER_ERROR, "timeout", names_param=False
    ),
    # As if the caller had sent the request to the model server itself (vLLM answers 400).
    errors.UpstreamInvalidRequest: OpenAIAnswer(400, servers_words, names_param=False),
}


def error_body(
    message: str, kind: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error object."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_payload(error: errors.AigwError) -> tuple[int, dict[str, Any]]:
    """The status and OpenAI error object for `error`, in an HTTP answer or inside a stream."""
    row = row_for(OPENAI_ERRORS, error)
    param = _param(error.field) if row.names_param else None
    return row.status, error_body(row.words(error), row.kind, param=param, code=row.code)


def error_response(error: errors.AigwError) -> JSONResponse:
    """The OpenAI-shaped answer for a domain error."""
    status, body = error_payload(error)
    log_answer(error, status)
    return JSONResponse(body, status_code=status, headers=error.http_headers())


def validation_response(problems: Sequence[Any]) -> JSONResponse:
    """400 naming the first invalid field, as OpenAI answers a bad parameter."""
    detail = validation_detail(problems)
    first = problems[0] if problems else {}
    location = [str(item) for item in first.get("loc", ()) if item != "body"]
    _log.info("request refused", status=400, error=detail)
    param = location[0] if location else None
    return JSONResponse(error_body(detail, "invalid_request_error", param=param), 400)


class OpenAIRoute(APIRoute):
    """A route whose every failure is answered with OpenAI's error object."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as error:
                return validation_response(error.errors())
            except errors.AigwError as error:
                return error_response(error)

        return handle


# GenerationParameters fields and the request field a caller knows them by.
_OPENAI_NAMES = {"stop_sequences": "stop"}


def _param(field: str | None) -> str | None:
    if not field:
        return None
    # The router's field, or the proxy's for a limit of the model's server.
    for parameters in ("completion.parameters.", "generation.parameters."):
        if field.startswith(parameters):
            name = field.removeprefix(parameters).split(".")[0].split("[")[0]
            return _OPENAI_NAMES.get(name, name)
    for prefix, param in _PARAMS.items():
        if field.startswith(prefix):
            return param
    return field
