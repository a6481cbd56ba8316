"""The ReAct reply parser: GitLab's results (duo-chat-react.md §7) for every way a reply can
arrive, split into the deltas the model streamed."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format

from router_svc.agent.parser import ReactParser

OFFERED = ("issue_reader", "merge_request_reader", "gitlab_documentation")


def parsed(chunks: list[str], offered: tuple[str, ...] = OFFERED) -> list[dict[str, Any]]:
    parser = ReactParser(offered)
    events = []
    for chunk in chunks:
        events += parser.feed(chunk)
        if parser.stopped:
            break
    events += parser.finish()
    return [
        json_format.MessageToDict(
            event, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        for event in events
    ]


def deltas(*texts: str) -> list[dict[str, Any]]:
    return [{"final_answer_delta": {"text": text}} for text in texts]


def test_01_the_answer_streams_from_the_chunk_that_starts_it() -> None:
    chunks = [
        " I can answer.\nAction: DirectAnswer\nFinal Answer: Hello! I am GitLab Du",
        "o Chat.",
    ]

    assert parsed(chunks) == deltas("Hello! I am GitLab Du", "o Chat.")


def test_04_markers_split_across_chunks_and_whitespace_held_back() -> None:
    chunks = ["x\nAc", "tion: Dir", "ectAnswer\nFi", "nal An", "swer", ":", " ", "Hi", ".", "\n",
              "\nPlease", "\n"]  # fmt: skip

    assert parsed(chunks) == deltas("Hi", ".", "\n\nPlease")


def test_an_empty_answer_emits_nothing() -> None:
    assert parsed(["Thought: ok\nFinal Answer:", "  \n"]) == []


def test_33_a_message_end_marker_ends_the_answer_for_good() -> None:
    assert parsed(["Final Answer: one ", "two </mes", "sage> three", " four"]) == deltas(
        "one", " two"
    )


def test_text_that_only_looked_like_a_marker_is_released() -> None:
    assert parsed(["Final Answer: a </mes", "h b Obs", "erved"]) == deltas(
        "a", " </mesh b", " Observed"
    )


def test_a_partial_marker_at_the_very_end_is_answer_text() -> None:
    assert parsed(["Final Answer: a </mes"]) == deltas("a", " </mes")


@pytest.mark.parametrize(
    ("chunks", "action"),
    [
        (
            ["I need it.\nAction: issue_reader\nAction Input: #12\n"],
            ("issue_reader", "#12", "I need it."),
        ),
        (["Ac", "tion: issue_rea", "der\nAction In", "put: #", "1"], ("issue_reader", "#1", "")),
        (
            ["Thought: Again.\nAction: issue_reader\nAction Input: #2"],
            ("issue_reader", "#2", "Thought: Again."),
        ),  # 24
        (
            ["Use\\_it\nAction: issue\\_reader\nAction Input: a\\_b"],
            ("issue_reader", "a\\_b", "Use_it"),
        ),
        (["x\nAction: MergeRequestReader\nAction Input: !1"], ("merge_request_reader", "!1", "x")),
        (
            ["x\nAction: issue_reader\nAction Input: multi\nline </message> input"],
            ("issue_reader", "multi\nline", "x"),
        ),
    ],
)
def test_02_05_actions(chunks: list[str], action: tuple[str, str, str]) -> None:
    tool, tool_input, thought = action

    assert parsed(chunks) == [
        {"action": {"tool": tool, "tool_input": tool_input, "thought": thought}}
    ]


def test_23_the_reply_ends_at_the_stop_sequence_even_if_the_server_ignored_it() -> None:
    parser = ReactParser(OFFERED)
    events = parser.feed("x\nAction: issue_reader\nAction Input: #12\nObserv")
    assert not parser.stopped
    events += parser.feed("ation: invented\nThought: done\nFinal Answer: invented too")

    assert parser.stopped
    assert events == []
    assert parser.feed("more") == []
    [action] = parser.finish()
    assert action.action.tool_input == "#12"


def test_25_a_final_answer_wins_over_a_complete_action() -> None:
    chunks = ["x\nAction: issue_reader\nAction Input: #12\n", "Final Answer: no need"]

    assert parsed(chunks) == deltas("no need")


@pytest.mark.parametrize(
    ("chunks", "text"),
    [
        (["  just words  "], "just words"),  # 06
        (["x\nAction: issue_reader"], "x\nAction: issue_reader"),  # 26
        ([], ""),  # 27
        (["", ""], ""),
    ],
)
def test_06_26_27_unknown_replies(chunks: list[str], text: str) -> None:
    assert parsed(chunks) == [{"unknown": {"text": text}}]


@pytest.mark.parametrize("tool", ["DirectAnswer", "commit_reader"])
def test_16_17_a_tool_not_offered_is_an_error(tool: str) -> None:
    chunks = [f"x\nAction: {tool}\nAction Input: y"]

    assert parsed(chunks) == [{"error": {"message": "tool not available", "retryable": False}}]


def test_a_long_reply_in_many_chunks_is_parsed_once_per_chunk() -> None:
    words = [f" word{n}" for n in range(5000)]

    events = parsed(["Final Answer:", *words])

    assert "".join(e["final_answer_delta"]["text"] for e in events) == "".join(words).strip()
