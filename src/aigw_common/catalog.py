"""What aigw knows about features: each feature's kind of input and the scope a caller needs.

Scopes are GitLab's unit primitives, so tokens minted by a GitLab instance work unchanged.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from aigw_common.errors import InvalidArgument


class FeatureKind(enum.Enum):
    CODE_COMPLETION = "code_completion"
    CODE_GENERATION = "code_generation"
    CHAT = "chat"


@dataclass(frozen=True)
class Feature:
    name: str
    kind: FeatureKind
    scope: str


_FEATURES = [
    Feature("code_completions", FeatureKind.CODE_COMPLETION, "complete_code"),
    Feature("code_generations", FeatureKind.CODE_GENERATION, "generate_code"),
    Feature("duo_chat", FeatureKind.CHAT, "duo_chat"),
    Feature("duo_chat_explain_code", FeatureKind.CHAT, "explain_code"),
    Feature("duo_chat_write_tests", FeatureKind.CHAT, "write_tests"),
    Feature("duo_chat_refactor_code", FeatureKind.CHAT, "refactor_code"),
    Feature("duo_chat_fix_code", FeatureKind.CHAT, "fix_code"),
    Feature("duo_chat_troubleshoot_job", FeatureKind.CHAT, "troubleshoot_job"),
    Feature("duo_chat_explain_vulnerability", FeatureKind.CHAT, "explain_vulnerability"),
    Feature("resolve_vulnerability", FeatureKind.CHAT, "resolve_vulnerability"),
    Feature("duo_chat_summarize_comments", FeatureKind.CHAT, "summarize_comments"),
    Feature("summarize_new_merge_request", FeatureKind.CHAT, "summarize_new_merge_request"),
    Feature("summarize_review", FeatureKind.CHAT, "summarize_review"),
    Feature("generate_commit_message", FeatureKind.CHAT, "generate_commit_message"),
    Feature("glab_ask_git_command", FeatureKind.CHAT, "glab_ask_git_command"),
    Feature("generate_issue_description", FeatureKind.CHAT, "generate_issue_description"),
]

FEATURES: dict[str, Feature] = {feature.name: feature for feature in _FEATURES}

FAMILIES = frozenset(
    {
        "codestral",
        "mistral",
        "mixtral",
        "claude_3",
        "gpt",
        "codegemma",
        "codellama",
        "deepseekcoder",
        "llama3",
        "general",
    }
)


def feature(name: str, *, field: str = "feature") -> Feature:
    """The feature called `name`, or InvalidArgument naming `field` and the known features."""
    try:
        return FEATURES[name]
    except KeyError:
        known = ", ".join(sorted(FEATURES))
        raise InvalidArgument(
            f"{field}: unknown feature {name!r}; known features: {known}", field=field
        ) from None


def check_family(name: str, *, field: str = "family") -> str:
    """`name` if it is a known model family, else InvalidArgument naming `field`."""
    if name not in FAMILIES:
        raise InvalidArgument(
            f"{field}: unknown model family {name!r}; "
            f"known families: {', '.join(sorted(FAMILIES))}",
            field=field,
        )
    return name
