"""The one mapping from aigw's domain errors to the HTTP answers GitLab's clients expect.

Token problems are 401 `{"error": ...}`; everything else is `{"detail": ...}`. Model and
upstream failures all read "Inference failed", as in GitLab's gateway, and the real reason goes
to the log. Bugs are a generic 500 whose body says nothing about the cause.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from aigw_common.errors import (
    AigwError,
    Cancelled,
    PermissionDenied,
    Unauthenticated,
    UpstreamError,
)
from aigw_common.grpc_errors import TRANSPORT_REASON, from_rpc_error

INFERENCE_FAILED = "Inference failed"
INTERNAL_ERROR = "Internal error; see the service log"

_log = structlog.get_logger(__name__)


def router_error(
    error: grpc.aio.AioRpcError, *, forbidden: str | Callable[[AigwError], str]
) -> AigwError:
    """The domain error the router reported, with the route's own words for a refusal.

    GitLab's routes each answer a missing scope with their own 403 message (e.g. "Unauthorized
    to access code completions"); `forbidden` is that message, or makes it from the error (whose
    metadata names the missing scope).
    """
    domain_error = from_rpc_error(error)
    if isinstance(domain_error, PermissionDenied):
        message = forbidden if isinstance(forbidden, str) else forbidden(domain_error)
        return PermissionDenied(message, metadata=domain_error.metadata)
    return domain_error


def is_internal(error: AigwError) -> bool:
    """True for a bug, or a status gRPC itself made (whose text must not reach a caller)."""
    if isinstance(error, UpstreamError | Cancelled):
        return False
    return error.http_status == 500 or error.reason == TRANSPORT_REASON


def error_response(error: AigwError) -> JSONResponse:
    """The HTTP answer for `error`."""
    if is_internal(error):
        _log.error("request failed", reason=error.reason, error=error.message)
        return JSONResponse({"detail": INTERNAL_ERROR}, status_code=500)
    if isinstance(error, Unauthenticated):
        _log.info("request refused", status=401, reason=error.reason, error=error.message)
        return JSONResponse({"error": error.message}, status_code=401)
    if isinstance(error, UpstreamError):
        _log.warning("inference failed", reason=error.reason, error=error.message)
        return JSONResponse({"detail": INFERENCE_FAILED}, status_code=503)
    _log.info("request refused", status=error.http_status, reason=error.reason, error=error.message)
    return JSONResponse({"detail": error.message}, status_code=error.http_status)


def validation_detail(errors: Sequence[Any]) -> str:
    """One line naming each invalid field, e.g. `current_file.file_name: Field required`.

    Only pydantic's messages are used, never the offending input, which may hold a secret.
    """
    parts = []
    for error in errors:
        if error.get("type") == "json_invalid":
            parts.append("body: invalid JSON")
            continue
        location = [item for item in error.get("loc", ()) if item != "body"]
        parts.append(f"{_field_path(location) or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Route every domain error, router status and validation failure through one mapping."""
    app.add_exception_handler(AigwError, _on_aigw_error)
    app.add_exception_handler(grpc.aio.AioRpcError, _on_rpc_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)


def _field_path(location: Sequence[str | int]) -> str:
    path = ""
    for item in location:
        path += f"[{item}]" if isinstance(item, int) else f".{item}" if path else str(item)
    return path


async def _on_aigw_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, AigwError)
    return error_response(error)


async def _on_rpc_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, grpc.aio.AioRpcError)
    return error_response(from_rpc_error(error))


async def _on_validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    _log.info("request refused", status=422, error=validation_detail(problems))
    return JSONResponse({"detail": validation_problems(problems)}, status_code=422)


def validation_problems(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI's list of problems (`type`, `loc`, `msg`), which GitLab's clients read (Rails'
    "Test connection" shows `detail[0].msg`), without the `input` and `ctx` FastAPI adds: they
    echo the request, model_api_key included."""
    return [
        {
            "type": error.get("type", "value_error"),
            "loc": list(error.get("loc", ())),
            "msg": error.get("msg", "invalid"),
        }
        for error in errors
    ]
