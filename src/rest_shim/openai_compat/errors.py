"""Errors of the OpenAI-compatible routes, as OpenAI's error object:

    {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}

Every failure on these routes (validation, router refusals, model failures) passes through
`OpenAIRoute`, so the GitLab-shaped handlers of the rest of the app never answer here. Model
and upstream details stay in the log; the message gives the request id to find them.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import grpc
import structlog
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from aigw_common import errors
from aigw_common.grpc_errors import from_rpc_error
from aigw_common.request_context import request_id_var
from rest_shim.errors import INFERENCE_FAILED, INTERNAL_ERROR, is_internal, validation_detail

_log = structlog.get_logger(__name__)

# Router field paths and the request field a caller knows them by.
_PARAMS = {
    "completion.feature": "model",
    "completion.model": "model",
    "completion.chat": "messages",
    "completion.prompt": "prompt",
}


def error_body(
    message: str, kind: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error object."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(error: errors.AigwError) -> JSONResponse:
    """The OpenAI-shaped answer for a domain error."""
    status, kind, code = _classify(error)
    if isinstance(error, errors.UpstreamError) or status == 500:
        _log.warning("request failed", status=status, reason=error.reason, error=error.message)
        generic = INFERENCE_FAILED if status != 500 else INTERNAL_ERROR
        message = f"{generic} (request id {request_id_var.get()})"
        return JSONResponse(error_body(message, kind, code=code), status_code=status)
    _log.info("request refused", status=status, reason=error.reason, error=error.message)
    body = error_body(error.message, kind, param=_param(error.field), code=code)
    return JSONResponse(body, status_code=status)


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
            except grpc.aio.AioRpcError as error:
                return error_response(from_rpc_error(error))

        return handle


def _classify(error: errors.AigwError) -> tuple[int, str, str | None]:
    if is_internal(error):
        return 500, "server_error", None
    if isinstance(error, errors.Unauthenticated):
        return 401, "invalid_request_error", "invalid_api_key"
    if isinstance(error, errors.PermissionDenied):
        return 403, "permission_error", "insufficient_permissions"
    if isinstance(error, errors.NotFound):
        return 404, "invalid_request_error", "model_not_found"
    if isinstance(error, errors.ResourceExhausted):
        return 429, "rate_limit_error", "rate_limit_exceeded"
    if isinstance(error, errors.FeatureUnavailable):
        return 503, "server_error", "feature_unavailable"
    if isinstance(error, errors.UpstreamTimeout):
        return 504, "server_error", "timeout"
    if isinstance(error, errors.UpstreamError):
        return 503, "server_error", None
    if isinstance(error, errors.InvalidArgument | errors.FailedPrecondition):
        return 400, "invalid_request_error", None
    if error.http_status < 500:
        return error.http_status, "invalid_request_error", None
    return 500, "server_error", None


def _param(field: str | None) -> str | None:
    if not field:
        return None
    if field.startswith("completion.parameters."):
        return field.removeprefix("completion.parameters.").split(".")[0]
    for prefix, param in _PARAMS.items():
        if field.startswith(prefix):
            return param
    return field
