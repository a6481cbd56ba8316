"""Named prompts (GitLab's /v1/prompts/{prompt_id}): which feature each serves, and how its
template variables become a conversation.

GitLab keeps a template per prompt id and model family, filled with the request's `inputs`.
aigw maps each prompt id onto the feature whose registry template does the same job, and hands
the inputs to it as labelled sections of one user turn. Each prompt needs its feature's scope
(GitLab's `unit_primitives` of the prompt) and is served by that feature's model.
"""

from __future__ import annotations

import json

from google.protobuf import json_format, struct_pb2

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common import catalog
from aigw_common.catalog import Feature
from aigw_common.errors import InvalidArgument, NotFound

MAX_PROMPT_ID_CHARS = 255


# GitLab's "Test connection" prompt; the registry's model_check template answers it.
CHECK_PROMPT_ID = "model_configuration/check"

# GitLab prompt ids and the aigw feature (and so the scope and the template) that serves each.
# GitLab's check prompt needs complete_code, hence code_completions.
FEATURES: dict[str, str] = {
    CHECK_PROMPT_ID: "code_completions",
    "chat/explain_code": "duo_chat_explain_code",
    "chat/write_tests": "duo_chat_write_tests",
    "chat/refactor_code": "duo_chat_refactor_code",
    "chat/fix_code": "duo_chat_fix_code",
    "chat/troubleshoot_job": "duo_chat_troubleshoot_job",
    "chat/explain_vulnerability": "duo_chat_explain_vulnerability",
    "resolve_vulnerability": "resolve_vulnerability",
    "chat/summarize_comments": "duo_chat_summarize_comments",
    "summarize_new_merge_request": "summarize_new_merge_request",
    "summarize_review": "summarize_review",
    "generate_commit_message": "generate_commit_message",
    "glab_ask_git_command": "glab_ask_git_command",
    "generate_description": "generate_issue_description",
}


def invocation_feature(invocation: router_service_pb2.PromptInvocation) -> Feature:
    """The feature a named prompt serves; NotFound for unknown ids."""
    prompt_id = invocation.prompt_id
    if not prompt_id or len(prompt_id) > MAX_PROMPT_ID_CHARS:
        raise InvalidArgument(
            f"completion.invocation.prompt_id must be 1 to {MAX_PROMPT_ID_CHARS} characters",
            field="completion.invocation.prompt_id",
        )
    feature = FEATURES.get(prompt_id)
    if feature is None:
        # GitLab's exact answer for an unknown prompt id.
        raise NotFound(f"Prompt '{prompt_id}' not found", metadata={"prompt_id": prompt_id})
    return catalog.feature(feature)


def invocation_completion(
    invocation: router_service_pb2.PromptInvocation, feature: Feature
) -> router_service_pb2.Completion:
    """The chat completion the invocation stands for: its variables as one user turn, for the
    feature's template to frame."""
    user = common_pb2.Message(role=common_pb2.ROLE_USER, content=_sections(invocation.inputs))
    return router_service_pb2.Completion(
        feature=feature.name, chat=router_service_pb2.Conversation(messages=[user])
    )


def _sections(inputs: struct_pb2.Struct) -> str:
    # Sorted: a Struct is a map, and the same request must always render the same prompt.
    parts = [f"{key}:\n{_text(inputs.fields[key])}" for key in sorted(inputs.fields)]
    return "\n\n".join(parts) or "(no inputs)"


def _text(value: struct_pb2.Value) -> str:
    if value.WhichOneof("kind") == "string_value":
        return value.string_value
    return json.dumps(json_format.MessageToDict(value), ensure_ascii=False)
