"""Checks a Completion before any work is done; every error names the offending field."""

from __future__ import annotations

from collections.abc import Sequence

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common import catalog
from aigw_common.catalog import Feature, FeatureKind
from aigw_common.errors import InvalidArgument
from aigw_common.request_rules import check_parameters
from router_svc.prompt_invocations import invocation_completion, invocation_feature

MAX_FILE_NAME_CHARS = 255
MAX_CONTENT_CHARS = 100_000
MAX_PROMPT_CHARS = 400_000
MAX_MESSAGES = 100
MAX_MODEL_NAME_CHARS = 255
MAX_EXTRA_SCOPES = 20
MAX_SCOPE_CHARS = 100

_INPUTS_BY_KIND = {
    FeatureKind.CODE_COMPLETION: ("code",),
    FeatureKind.CODE_GENERATION: ("code", "prompt"),
    FeatureKind.CHAT: ("chat", "prompt"),
}


def check_completion(completion: router_service_pb2.Completion) -> Feature | None:
    """The requested feature (None for a model asked for by name), once the whole request is
    known to be well formed."""
    _check_addressing(completion)
    _check_extra_scopes(completion.extra_scopes)
    if completion.prepared_prompt_defaults and not completion.verbatim:
        raise InvalidArgument(
            "completion.prepared_prompt_defaults applies to verbatim prompts only",
            field="completion.prepared_prompt_defaults",
        )
    if completion.HasField("invocation"):
        return _check_invocation(completion)
    if completion.model:
        # A model asked for by name has no feature template: the input goes as given.
        _check_input(completion, None, ("chat", "prompt"))
        return None
    feature = catalog.feature(completion.feature, field="completion.feature")
    allowed = ("chat", "prompt") if completion.verbatim else _INPUTS_BY_KIND[feature.kind]
    _check_input(completion, feature, allowed)
    return feature


def _check_addressing(completion: router_service_pb2.Completion) -> None:
    ways = [
        name
        for name, used in (
            ("completion.feature", bool(completion.feature)),
            ("completion.model", bool(completion.model)),
            ("completion.invocation", completion.HasField("invocation")),
        )
        if used
    ]
    if not ways:
        raise InvalidArgument(
            "completion.feature is required (or completion.model, or completion.invocation)",
            field="completion.feature",
        )
    if len(ways) > 1:
        raise InvalidArgument(f"completion: set only one of {' and '.join(ways)}", field=ways[1])
    if len(completion.model) > MAX_MODEL_NAME_CHARS:
        raise InvalidArgument(
            f"completion.model is longer than {MAX_MODEL_NAME_CHARS} characters",
            field="completion.model",
        )
    if completion.model and completion.HasField("custom_model"):
        raise InvalidArgument(
            "completion: set only one of completion.model and completion.custom_model",
            field="completion.custom_model",
        )


def _check_extra_scopes(scopes: Sequence[str]) -> None:
    field = "completion.extra_scopes"
    if len(scopes) > MAX_EXTRA_SCOPES:
        raise InvalidArgument(f"{field} allows at most {MAX_EXTRA_SCOPES} entries", field=field)
    for index, scope in enumerate(scopes):
        if not scope or len(scope) > MAX_SCOPE_CHARS:
            raise InvalidArgument(
                f"{field}[{index}] must be 1 to {MAX_SCOPE_CHARS} characters", field=field
            )


def _check_invocation(completion: router_service_pb2.Completion) -> Feature:
    if completion.WhichOneof("input") is not None or completion.verbatim:
        raise InvalidArgument(
            "completion.invocation carries its own input: leave completion.code, "
            "completion.chat, completion.prompt and completion.verbatim unset",
            field="completion.invocation",
        )
    feature = invocation_feature(completion.invocation)
    check_parameters(completion.parameters, "completion.parameters")
    rendered = invocation_completion(completion.invocation, feature)
    _check_chat(rendered.chat, field="completion.invocation.inputs")
    return feature


def _check_input(
    completion: router_service_pb2.Completion, feature: Feature | None, allowed: tuple[str, ...]
) -> None:
    kind = completion.WhichOneof("input")
    if kind not in allowed:
        subject = f"feature {feature.name!r}" if feature and not completion.verbatim else "it"
        raise InvalidArgument(
            f"completion: {subject} needs one of {', '.join('completion.' + a for a in allowed)}",
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


def _check_chat(
    chat: router_service_pb2.Conversation, field: str = "completion.chat.messages"
) -> None:
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
