"""How the REST shim answers a failure: one table per API family, keyed by the domain error's
class, and GitLab's table (the family of every route but the OpenAI-compatible ones).

A table maps a class of aigw_common.errors to the status, and to the words the caller gets: the
error's own message, or generic words when the detail is the operator's (a model server's
address, a bug), which then goes only to the log. The most specific class in the table wins,
so a subclass the table does not name is answered as its parent. Non-streamed answers and
failures inside a stream take their words from the same row.

GitLab's shapes: token problems are 401 `{"error": ...}`, everything else `{"detail": ...}`;
model and upstream failures read "Inference failed", as in GitLab's gateway; an invalid body is
FastAPI's list of problems. A status gRPC made itself arrives as a plain AigwError (see
grpc_errors.from_rpc_error): its text is never the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from aigw_common import errors

INFERENCE_FAILED = "Inference failed"
INTERNAL_ERROR = "Internal error; see the service log"

_log = structlog.get_logger(__name__)

Words = Callable[[errors.AigwError], str]


def own_words(error: errors.AigwError) -> str:
    """The error's own message: it names what the caller got wrong or may not do."""
    return error.message


def servers_words(error: errors.AigwError) -> str:
    """What the model server said about the request it refused (never our view of the server:
    its address stays in the log)."""
    said = error.metadata.get("upstream_message")
    status = error.metadata.get("http_status")
    return said or f"The model server refused the request (HTTP {status or 'error'})"


def generic(words: str) -> Words:
    """Fixed words, for failures whose detail is for the operator only."""
    return lambda _: words


@dataclass(frozen=True)
class Answer:
    """One row of an error table: the HTTP status and the caller's words."""

    status: int
    words: Words = own_words


_Row = TypeVar("_Row", bound=Answer)


def row_for(table: Mapping[type[errors.AigwError], _Row], error: errors.AigwError) -> _Row:
    """The row of the most specific class of `error` that `table` names (every table names
    AigwError itself)."""
    for cls in type(error).__mro__:
        row = table.get(cls)
        if row is not None:
            return row
    raise LookupError(f"the error table has no row for {type(error).__name__}")


def log_answer(error: errors.AigwError, status: int) -> None:
    """The one log line of a failed request: a refusal is news, a failure a warning, a bug an
    error."""
    if isinstance(error, errors.UpstreamError):
        _log.warning("inference failed", status=status, reason=error.reason, error=error.message)
    elif status == 500:
        _log.error("request failed", status=status, reason=error.reason, error=error.message)
    else:
        _log.info("request refused", status=status, reason=error.reason, error=error.message)


@dataclass(frozen=True)
class GitLabAnswer(Answer):
    key: str = "detail"


GITLAB_ERRORS: Mapping[type[errors.AigwError], GitLabAnswer] = {
    errors.AigwError: GitLabAnswer(500, generic(INTERNAL_ERROR)),
    errors.InvalidArgument: GitLabAnswer(400),
    errors.Unauthenticated: GitLabAnswer(401, key="error"),
    errors.PermissionDenied: GitLabAnswer(403),
    errors.NotFound: GitLabAnswer(404),
    errors.AlreadyExists: GitLabAnswer(409),
    errors.FailedPrecondition: GitLabAnswer(400),
    # GitLab's gateway answers a feature it cannot serve with 503 {"detail": ...}.
    errors.FeatureUnavailable: GitLabAnswer(503),
    errors.Aborted: GitLabAnswer(409),
    errors.ResourceExhausted: GitLabAnswer(429),
    # A caller that left gets no answer at all (rest_shim/disconnect.py, access line 499): a
    # cancel that reaches this table happened upstream, not by the caller.
    errors.Cancelled: GitLabAnswer(503, generic(INFERENCE_FAILED)),
    errors.UpstreamError: GitLabAnswer(503, generic(INFERENCE_FAILED)),
    # The model server refused the request itself: retrying cannot help, the caller must change
    # it (too long for the model's context, too many stop sequences).
    errors.UpstreamInvalidRequest: GitLabAnswer(400, servers_words),
}


def gitlab_words(error: errors.AigwError) -> str:
    """What a GitLab client is told about `error`, in an HTTP answer or inside a stream."""
    return row_for(GITLAB_ERRORS, error).words(error)


def error_response(error: errors.AigwError) -> JSONResponse:
    """GitLab's HTTP answer for `error`."""
    row = row_for(GITLAB_ERRORS, error)
    log_answer(error, row.status)
    return JSONResponse(
        {row.key: row.words(error)}, status_code=row.status, headers=error.http_headers()
    )


def validation_detail(problems: Sequence[Any]) -> str:
    """One line naming each invalid field, e.g. `current_file.file_name: Field required`.

    Only pydantic's messages are used, never the offending input, which may hold a secret.
    """
    parts = []
    for problem in problems:
        if problem.get("type") == "json_invalid":
            parts.append("body: invalid JSON")
            continue
        location = [item for item in problem.get("loc", ()) if item != "body"]
        parts.append(f"{_field_path(location) or 'body'}: {problem.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Answer every domain error and validation failure of GitLab's routes through the table
    (the OpenAI-compatible routes answer their own: openai_compat/errors.py)."""
    app.add_exception_handler(errors.AigwError, _on_aigw_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)


def _field_path(location: Sequence[str | int]) -> str:
    path = ""
    for item in location:
        path += f"[{item}]" if isinstance(item, int) else f".{item}" if path else str(item)
    return path


async def _on_aigw_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, errors.AigwError)
    return error_response(error)


async def _on_validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    _log.info("request refused", status=422, error=validation_detail(problems))
    return JSONResponse({"detail": validation_problems(problems)}, status_code=422)


def validation_problems(problems: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI's list of problems (`type`, `loc`, `msg`), which GitLab's clients read (Rails'
    "Test connection" shows `detail[0].msg`), without the `input` and `ctx` FastAPI adds: they
    echo the request, model_api_key included."""
    return [
        {
            "type": problem.get("type", "value_error"),
            "loc": list(problem.get("loc", ())),
            "msg": problem.get("msg", "invalid"),
        }
        for problem in problems
    ]
