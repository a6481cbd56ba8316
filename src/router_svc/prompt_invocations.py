"""Named prompts (GitLab's /v1/prompts/{prompt_id}): which feature each serves, and how its
template variables become a conversation.

GitLab keeps a Jinja template per prompt id and model family; aigw renders the variables as
labelled sections of one user turn after a short system instruction per prompt, and leaves the
family's chat format to `prompts.render`. Each prompt needs its feature's scope (GitLab's
`unit_primitives` of the prompt) and is served by that feature's model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from google.protobuf import json_format, struct_pb2

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common import catalog
from aigw_common.catalog import Feature
from aigw_common.errors import InvalidArgument, NotFound

MAX_PROMPT_ID_CHARS = 255


@dataclass(frozen=True)
class NamedPrompt:
    feature: str
    system: str
    max_tokens: int | None = None


_CHECK_SYSTEM = (
    "This is a connection test from the gateway. Reply with the single word OK and nothing else."
)

PROMPTS: dict[str, NamedPrompt] = {
    # GitLab's "Test connection" prompt needs complete_code and asks for a few tokens only.
    "model_configuration/check": NamedPrompt("code_completions", _CHECK_SYSTEM, max_tokens=12),
    "chat/explain_code": NamedPrompt(
        "duo_chat_explain_code", "Explain the given code clearly and concisely."
    ),
    "chat/write_tests": NamedPrompt(
        "duo_chat_write_tests", "Write thorough unit tests for the given code."
    ),
    "chat/refactor_code": NamedPrompt(
        "duo_chat_refactor_code", "Refactor the given code; keep its behaviour."
    ),
    "chat/fix_code": NamedPrompt("duo_chat_fix_code", "Find and fix the bugs in the given code."),
    "chat/troubleshoot_job": NamedPrompt(
        "duo_chat_troubleshoot_job",
        "Find the root cause of the failed CI/CD job from its log and suggest a fix.",
    ),
    "chat/explain_vulnerability": NamedPrompt(
        "duo_chat_explain_vulnerability",
        "Explain the vulnerability, how it could be exploited, and how to fix it.",
    ),
    "resolve_vulnerability": NamedPrompt(
        "resolve_vulnerability", "Write a code change that resolves the vulnerability."
    ),
    "chat/summarize_comments": NamedPrompt(
        "duo_chat_summarize_comments", "Summarize the discussion in the given comments."
    ),
    "summarize_new_merge_request": NamedPrompt(
        "summarize_new_merge_request", "Summarize the changes of the new merge request."
    ),
    "summarize_review": NamedPrompt(
        "summarize_review", "Summarize the review comments for the merge request author."
    ),
    "generate_commit_message": NamedPrompt(
        "generate_commit_message", "Write a commit message for the given changes."
    ),
    "glab_ask_git_command": NamedPrompt(
        "glab_ask_git_command", "Answer with the git command that does what is asked."
    ),
    "generate_description": NamedPrompt(
        "generate_issue_description", "Write an issue description from the given notes."
    ),
}


def named_prompt(invocation: router_service_pb2.PromptInvocation) -> tuple[NamedPrompt, Feature]:
    """The prompt an invocation names and the feature it serves; NotFound for unknown ids."""
    prompt_id = invocation.prompt_id
    if not prompt_id or len(prompt_id) > MAX_PROMPT_ID_CHARS:
        raise InvalidArgument(
            f"completion.invocation.prompt_id must be 1 to {MAX_PROMPT_ID_CHARS} characters",
            field="completion.invocation.prompt_id",
        )
    prompt = PROMPTS.get(prompt_id)
    if prompt is None:
        # GitLab's exact answer for an unknown prompt id.
        raise NotFound(f"Prompt '{prompt_id}' not found", metadata={"prompt_id": prompt_id})
    return prompt, catalog.FEATURES[prompt.feature]


def invocation_completion(
    invocation: router_service_pb2.PromptInvocation,
    prompt: NamedPrompt,
    parameters: common_pb2.GenerationParameters,
) -> router_service_pb2.Completion:
    """The chat completion the invocation stands for, ready for `prompts.render`."""
    messages = [
        common_pb2.Message(role=common_pb2.ROLE_SYSTEM, content=prompt.system),
        common_pb2.Message(role=common_pb2.ROLE_USER, content=_sections(invocation.inputs)),
    ]
    merged = common_pb2.GenerationParameters()
    if prompt.max_tokens is not None:
        merged.max_tokens = prompt.max_tokens
    merged.MergeFrom(parameters)
    return router_service_pb2.Completion(
        feature=prompt.feature,
        chat=router_service_pb2.Conversation(messages=messages),
        parameters=merged,
    )


def _sections(inputs: struct_pb2.Struct) -> str:
    # Sorted: a Struct is a map, and the same request must always render the same prompt.
    parts = [f"{key}:\n{_text(inputs.fields[key])}" for key in sorted(inputs.fields)]
    return "\n\n".join(parts) or "(no inputs)"


def _text(value: struct_pb2.Value) -> str:
    if value.WhichOneof("kind") == "string_value":
        return value.string_value
    return json.dumps(json_format.MessageToDict(value), ensure_ascii=False)
