"""Checks a Completion before any work is done; every error names the offending field."""

from __future__ import annotations

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common import catalog
from aigw_common.catalog import Feature, FeatureKind
from aigw_common.errors import InvalidArgument
from aigw_common.generation_parameters import check_parameters

MAX_FILE_NAME_CHARS = 255
MAX_CONTENT_CHARS = 100_000
MAX_PROMPT_CHARS = 400_000
MAX_MESSAGES = 100

_INPUTS_BY_KIND = {
    FeatureKind.CODE_COMPLETION: ("code",),
    FeatureKind.CODE_GENERATION: ("code", "prompt"),
    FeatureKind.CHAT: ("chat", "prompt"),
}


def check_completion(completion: router_service_pb2.Completion) -> Feature:
    """The requested feature, once the whole request is known to be well formed."""
    if not completion.feature:
        raise InvalidArgument("completion.feature is required", field="completion.feature")
    feature = catalog.feature(completion.feature, field="completion.feature")
    kind = completion.WhichOneof("input")
    allowed = _INPUTS_BY_KIND[feature.kind]
    if kind not in allowed:
        raise InvalidArgument(
            f"completion: feature {feature.name!r} needs one of "
            f"{', '.join('completion.' + a for a in allowed)}",
            field=f"completion.{allowed[0]}",
        )
    if kind == "code":
        _check_code(completion.code)
    elif kind == "chat":
        _check_chat(completion.chat)
    elif len(completion.prompt) > MAX_PROMPT_CHARS:
        raise InvalidArgument(
            f"completion.prompt is longer than {MAX_PROMPT_CHARS} characters",
            field="completion.prompt",
        )
    check_parameters(completion.parameters, "completion.parameters")
    return feature


def _check_code(code: router_service_pb2.CodeContext) -> None:
    if len(code.file_name) > MAX_FILE_NAME_CHARS:
        raise InvalidArgument(
            f"completion.code.file_name is longer than {MAX_FILE_NAME_CHARS} characters",
            field="completion.code.file_name",
        )
    for name in ("content_above_cursor", "content_below_cursor"):
        if len(getattr(code, name)) > MAX_CONTENT_CHARS:
            raise InvalidArgument(
                f"completion.code.{name} is longer than {MAX_CONTENT_CHARS} characters",
                field=f"completion.code.{name}",
            )


def _check_chat(chat: router_service_pb2.Conversation) -> None:
    field = "completion.chat.messages"
    if not 1 <= len(chat.messages) <= MAX_MESSAGES:
        raise InvalidArgument(f"{field} needs 1 to {MAX_MESSAGES} messages", field=field)
    total = 0
    for index, message in enumerate(chat.messages):
        if message.role == common_pb2.ROLE_UNSPECIFIED:
            raise InvalidArgument(f"{field}[{index}].role is required", field=f"{field}.role")
        total += len(message.content)
    if total > MAX_PROMPT_CHARS:
        raise InvalidArgument(
            f"{field} hold more than {MAX_PROMPT_CHARS} characters in all", field=field
        )
