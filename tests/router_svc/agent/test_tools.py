"""Which tools one request gets (duo-chat-react.md §3)."""

from __future__ import annotations

import pytest

from router_svc.agent.tools import TOOLS, Caller, offered_tools

EVERY_SCOPE = frozenset(tool.scope for tool in TOOLS)


def names(caller: Caller) -> list[str]:
    return [tool.name for tool in offered_tools(caller)]


def test_the_tools_in_prompt_order() -> None:
    assert [tool.name for tool in TOOLS] == [
        "build_reader",
        "epic_reader",
        "issue_reader",
        "merge_request_reader",
        "gitlab_documentation",
        "commit_reader",
    ]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("17.4.0", ["issue_reader", "gitlab_documentation"]),  # case 19
        ("17.5.0-pre", ["issue_reader", "merge_request_reader", "gitlab_documentation"]),
        ("17.8.0", ["issue_reader", "merge_request_reader", "gitlab_documentation"]),  # case 20
        ("", ["issue_reader", "gitlab_documentation"]),
        ("seventeen", ["issue_reader", "gitlab_documentation"]),
    ],
)
def test_scopes_and_version_decide(version: str, expected: list[str]) -> None:
    scopes = {"duo_chat", "ask_issue", "documentation_search", "ask_merge_request"}

    assert names(Caller(scopes, version, ())) == expected


def test_commit_reader_needs_its_flag_even_for_the_trial_caller() -> None:
    without = Caller(EVERY_SCOPE, "18.0.0", ())
    with_flag = Caller(EVERY_SCOPE, "18.0.0", {"ai_commit_reader_for_chat"})
    trial = Caller(frozenset(), "", (), trial=True)

    assert "commit_reader" not in names(without)
    assert names(with_flag)[-1] == "commit_reader"
    assert names(trial) == [tool.name for tool in TOOLS if not tool.feature_flag]
