"""Checks a StreamAgentRequest before any work is done; every error names the offending field."""

from __future__ import annotations

from collections.abc import Sequence

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.duo_chat_vocabulary import CONTEXT_CATEGORIES, PAGE_TYPES
from aigw_common.errors import InvalidArgument
from router_svc.completion_request import MAX_MESSAGES, MAX_PROMPT_CHARS

MAX_STEPS = 20
MAX_LIST_ENTRIES = 20
MAX_FLAGS = 200
MAX_NAME_CHARS = 255
MAX_VERSION_CHARS = 64

_ROLES = (common_pb2.ROLE_USER, common_pb2.ROLE_ASSISTANT)


def check_agent_request(request: router_service_pb2.StreamAgentRequest) -> list[str]:
    """The scopes the request needs besides duo_chat (include_<category>_context for attached
    context), once it is known to be well formed."""
    messages = request.messages
    if not 1 <= len(messages) <= MAX_MESSAGES:
        raise InvalidArgument(f"messages: 1 to {MAX_MESSAGES} messages", field="messages")
    scopes: list[str] = []
    total = 0
    for index, message in enumerate(messages):
        field = f"messages[{index}]"
        if message.role not in _ROLES:
            raise InvalidArgument(
                f"{field}.role must be user or assistant (the agent writes its own system prompt)",
                field=f"{field}.role",
            )
        if message.role == common_pb2.ROLE_ASSISTANT and _has_context(message):
            raise InvalidArgument(
                f"{field}: only user messages carry context", field=f"{field}.role"
            )
        if message.HasField("page") and message.page.type not in PAGE_TYPES:
            raise InvalidArgument(
                f"{field}.page.type must be one of {', '.join(sorted(PAGE_TYPES))}",
                field=f"{field}.page.type",
            )
        total += len(message.content) + len(message.page.content) + len(message.current_file.data)
        for position, item in enumerate(message.additional_context):
            if item.category not in CONTEXT_CATEGORIES:
                raise InvalidArgument(
                    f"{field}.additional_context[{position}].category must be one of "
                    f"{', '.join(sorted(CONTEXT_CATEGORIES))}",
                    field=f"{field}.additional_context.category",
                )
            total += len(item.content) + len(item.id)
            scope = f"include_{item.category}_context"
            if scope not in scopes:
                scopes.append(scope)
    if messages[-1].role != common_pb2.ROLE_USER:
        raise InvalidArgument(
            f"messages[{len(messages) - 1}]: the last message must be the user's",
            field="messages.role",
        )
    if len(request.steps) > MAX_STEPS:
        raise InvalidArgument(f"steps: at most {MAX_STEPS}", field="steps")
    for step in request.steps:
        total += len(step.thought) + len(step.tool) + len(step.tool_input) + len(step.observation)
    if total > MAX_PROMPT_CHARS:
        raise InvalidArgument(
            f"messages and steps hold more than {MAX_PROMPT_CHARS} characters in all",
            field="messages",
        )
    _check_names("unavailable_resources", request.unavailable_resources, MAX_LIST_ENTRIES)
    _check_names("feature_flags", request.feature_flags, MAX_FLAGS)
    if len(request.gitlab_version) > MAX_VERSION_CHARS:
        raise InvalidArgument(
            f"gitlab_version is longer than {MAX_VERSION_CHARS} characters",
            field="gitlab_version",
        )
    return scopes


def _has_context(message: router_service_pb2.AgentMessage) -> bool:
    return (
        message.HasField("page")
        or message.HasField("current_file")
        or bool(message.additional_context)
    )


def _check_names(field: str, names: Sequence[str], limit: int) -> None:
    if len(names) > limit:
        raise InvalidArgument(f"{field}: at most {limit} entries", field=field)
    for index, name in enumerate(names):
        if len(name) > MAX_NAME_CHARS:
            raise InvalidArgument(
                f"{field}[{index}] is longer than {MAX_NAME_CHARS} characters", field=field
            )
