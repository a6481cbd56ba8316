from __future__ import annotations

import pytest

from aigw_common import catalog
from aigw_common.catalog import FeatureKind, SupportLevel
from aigw_common.errors import FailedPrecondition, InvalidArgument

GITLAB_DUO_FEATURES = {
    "code_completions": "complete_code",
    "code_generations": "generate_code",
    "duo_chat": "duo_chat",
    "duo_chat_explain_code": "explain_code",
    "duo_chat_write_tests": "write_tests",
    "duo_chat_refactor_code": "refactor_code",
    "duo_chat_fix_code": "fix_code",
    "duo_chat_troubleshoot_job": "troubleshoot_job",
    "duo_chat_explain_vulnerability": "explain_vulnerability",
    "resolve_vulnerability": "resolve_vulnerability",
    "duo_chat_summarize_comments": "summarize_comments",
    "summarize_new_merge_request": "summarize_new_merge_request",
    "summarize_review": "summarize_review",
    "generate_commit_message": "generate_commit_message",
    "glab_ask_git_command": "glab_ask_git_command",
    "generate_issue_description": "generate_issue_description",
}


def test_every_gitlab_duo_feature_is_known_with_its_scope() -> None:
    assert {name: f.scope for name, f in catalog.FEATURES.items()} == GITLAB_DUO_FEATURES


def test_the_families() -> None:
    assert {
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
    } == catalog.FAMILIES


@pytest.mark.parametrize(
    ("family", "feature", "level"),
    [
        # The supported-models table, with GitLab's support level.
        ("codestral", "code_completions", SupportLevel.APPROVED),
        ("codestral", "code_generations", SupportLevel.APPROVED),
        ("mistral", "code_generations", SupportLevel.APPROVED),
        ("mistral", "duo_chat", SupportLevel.APPROVED),
        ("mistral", "code_completions", SupportLevel.APPROVED),  # Mistral 7B Text
        ("mixtral", "duo_chat", SupportLevel.APPROVED),
        ("mixtral", "code_completions", SupportLevel.APPROVED),  # Mixtral Text
        ("claude_3", "code_generations", SupportLevel.APPROVED),
        ("claude_3", "duo_chat", SupportLevel.APPROVED),
        ("codegemma", "code_completions", SupportLevel.EVALUATION),
        ("codegemma", "code_generations", SupportLevel.EVALUATION),  # 7b-it
        ("codellama", "code_completions", SupportLevel.EVALUATION),
        ("codellama", "code_generations", SupportLevel.EVALUATION),
        ("deepseekcoder", "code_completions", SupportLevel.EVALUATION),
        ("deepseekcoder", "code_generations", SupportLevel.EVALUATION),
        ("gpt", "code_generations", SupportLevel.EVALUATION),
        # Beyond GitLab: chat-capable families on text features.
        ("codestral", "duo_chat_write_tests", SupportLevel.BEYOND_GITLAB),
        ("gpt", "duo_chat", SupportLevel.BEYOND_GITLAB),
        ("gpt", "generate_commit_message", SupportLevel.BEYOND_GITLAB),
        ("claude_3", "summarize_review", SupportLevel.APPROVED),
        # Not servable.
        ("claude_3", "code_completions", None),
        ("gpt", "code_completions", None),
        ("codegemma", "duo_chat", None),
        ("codellama", "duo_chat_explain_code", None),
        ("deepseekcoder", "generate_commit_message", None),
        ("unknown", "duo_chat", None),
    ],
)
def test_support_follows_the_table(family: str, feature: str, level: SupportLevel | None) -> None:
    assert catalog.support(family, feature) == level


def test_every_chat_capable_family_may_serve_every_text_feature() -> None:
    chat_capable = {n for n, f in catalog.FAMILY_SPECS.items() if f.chat_capable}
    assert chat_capable == {
        "codestral",
        "mistral",
        "mixtral",
        "claude_3",
        "gpt",
        "llama3",
        "general",
    }
    for feature in catalog.FEATURES.values():
        if feature.kind is FeatureKind.CHAT:
            assert set(catalog.families_for(feature.name)) == chat_capable


def test_an_impossible_assignment_names_the_families_that_can() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        catalog.check_assignment("code_completions", "sonnet", "claude_3", field="models")
    message = caught.value.message
    assert "'sonnet'" in message
    assert "claude_3" in message
    assert "codegemma, codellama, codestral, deepseekcoder, general, llama3, mistral, mixtral" in (
        message
    )
    assert caught.value.field == "models"
    catalog.check_assignment("code_completions", "c", "codestral", field="models")


def test_unknown_names_are_refused_naming_the_field() -> None:
    with pytest.raises(InvalidArgument, match=r"model\.family: unknown model family 'gpt5'"):
        catalog.check_family("gpt5", field="model.family")
    with pytest.raises(InvalidArgument, match=r"completion\.feature: unknown feature"):
        catalog.feature("nope", field="completion.feature")
