"""Duo Chat's ReAct agent on /v2/chat/agent: every recorded scenario of the protocol reference
(duo-chat-react.md §11), driving the real shim, router, model proxy and config_svc, with the
simulator scripted to reply as the model did. The events must be GitLab's; where GitLab's
gateway fails (unsupported families, prompt errors after its 200, a model ignoring `stop`),
aigw's better answer is asserted and the case says so.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from aigw_common.settings import CustomModelsSettings, Settings
from aigw_simulator.scripted import ScriptedReply
from tests.rest_shim.conftest import Gateway

ALL_TOOL_SCOPES = (
    "duo_chat",
    "ask_build",
    "ask_epic",
    "ask_issue",
    "ask_merge_request",
    "documentation_search",
    "ask_commit",
)
ALL_TOOLS = [
    "build_reader",
    "epic_reader",
    "issue_reader",
    "merge_request_reader",
    "gitlab_documentation",
]
DIRECT = "I can answer this directly.\nAction: DirectAnswer\nFinal Answer: "
ACTION = "I need to read the issue.\nAction: issue_reader\nAction Input: #12"
STEP = {
    "thought": "I need to read the issue.",
    "tool": "issue\\_reader",  # as Rails stores it, Markdown-escaped
    "tool_input": "#12",
    "observation": '{"title": "Login fails with 500"}',
}
SECOND_STEP = {
    "thought": "Now the docs.",
    "tool": "gitlab_documentation",
    "tool_input": "login errors",
    "observation": "Check the logs.",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"custom_models": CustomModelsSettings(enabled=True)})


def script(gateway: Gateway, *replies: dict[str, Any]) -> None:
    gateway.stack.simulator.state.script.add(
        *(ScriptedReply.model_validate(reply) for reply in replies)
    )


def metadata(gateway: Gateway, family: str, served: str = "aigw-simulator") -> dict[str, str]:
    """GitLab's model_metadata for a self-hosted model the simulator plays."""
    return {
        "provider": "openai",
        "name": family,
        "endpoint": gateway.stack.simulator.endpoint,
        "api_key": "",
        "identifier": f"custom_openai/{served}",
    }


def body(
    gateway: Gateway,
    family: str = "mistral",
    question: str = "What is issue #12 about?",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": question}],
        "model_metadata": metadata(gateway, family),
        "unavailable_resources": ["Pipelines", "Vulnerabilities"],
        **extra,
    }


async def ask(
    gateway: Gateway,
    payload: dict[str, Any],
    scopes: tuple[str, ...] = ALL_TOOL_SCOPES,
    headers: dict[str, str] | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """The status and, for a 200, the events without the closing usage event (checked)."""
    response = await gateway.http.post(
        "/v2/chat/agent", json=payload, headers={**gateway.headers(*scopes), **(headers or {})}
    )
    if response.status_code != 200:
        return response.status_code, [response.json()]
    assert response.headers["content-type"] == "application/x-ndjson; charset=utf-8"
    assert response.text == "" or response.text.endswith("\n")
    events = [json.loads(line) for line in response.text.splitlines()]
    usage = [index for index, event in enumerate(events) if event["type"] == "usage"]
    assert usage in ([], [len(events) - 1]), events
    return 200, events[: usage[0]] if usage else events


def answer(events: list[dict[str, Any]]) -> str:
    assert {event["type"] for event in events} == {"final_answer_delta"}, events
    return "".join(event["data"]["text"] for event in events)


def action(tool: str, tool_input: str, thought: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "action",
            "data": {"tool": tool, "tool_input": tool_input, "thought": thought},
        }
    ]


def error(message: str, retryable: bool = False) -> list[dict[str, Any]]:
    return [{"type": "error", "data": {"message": message, "retryable": retryable}}]


def model_request(gateway: Gateway, index: int = -1) -> dict[str, Any]:
    request: dict[str, Any] = gateway.records()[index]["body"]
    return request


def roles(request: dict[str, Any]) -> list[str]:
    return [message["role"] for message in request["messages"]]


def system_text(request: dict[str, Any]) -> str:
    """The system prompt (merged into the first user turn for Mistral-family models)."""
    return str(request["messages"][0]["content"])


# 01, 10, 11, 12b, 12c, 13, 14: a final answer, for every family with an agent prompt


@pytest.mark.parametrize(
    ("family", "turns"),
    [
        ("mistral", ["user", "assistant"]),  # 01: the system text joins the user turn
        ("mixtral", ["user", "assistant"]),  # 10
        ("codestral", ["user", "assistant"]),  # 14: no agent prompt in GitLab's gateway
        ("gpt", ["system", "user", "assistant"]),  # 11
        ("claude_3", ["system", "user", "assistant"]),  # 12b, 12c
        ("llama3", ["system", "user", "assistant"]),  # 13: no agent prompt in GitLab's gateway
        ("general", ["system", "user", "assistant"]),
    ],
)
async def test_a_final_answer_streams_as_deltas_for_every_family(
    gateway: Gateway, family: str, turns: list[str]
) -> None:
    script(gateway, {"chunks": [DIRECT + "Hello! I am GitLab Du", "o Chat."]})

    status, events = await ask(gateway, body(gateway, family, "Hi, who are you?"))

    # The split into deltas follows the model's chunks (chunks that queue up are joined).
    assert (status, answer(events)) == (200, "Hello! I am GitLab Duo Chat.")
    request = model_request(gateway)
    assert request["stream"] is True
    assert request["temperature"] == pytest.approx(0.1)
    assert request["max_tokens"] == 4096
    assert request["stop"] == ["Observation:"]
    assert "top_p" not in request
    assert roles(request) == turns
    # The pre-fill: no steps yet, the cue the model continues.
    assert request["messages"][-1]["content"] == "Thought:"
    assert request["messages"][-2]["content"].endswith("Hi, who are you?")
    system = system_text(request)
    assert "<tools_list>" in system
    assert "Pipelines, Vulnerabilities" in system
    names = [line for line in system.splitlines() if "<name>" in line]
    assert [name.strip().removeprefix("<tool><name>").removeprefix("<name>") for name in names] == [
        f"{tool}</name>" for tool in ALL_TOOLS
    ]


async def test_the_tool_names_are_listed_in_each_style(gateway: Gateway) -> None:
    script(gateway, {"chunks": [DIRECT + "a"]}, {"chunks": [DIRECT + "b"]})

    await ask(gateway, body(gateway, "mistral"))
    await ask(gateway, body(gateway, "claude_3"))

    mistral, claude = model_request(gateway, 0), model_request(gateway, 1)
    assert f"[{','.join(ALL_TOOLS)}]" in system_text(mistral)
    assert f"[{', '.join(ALL_TOOLS)}]" in system_text(claude)
    assert "Begin Answering!" in system_text(mistral)
    assert system_text(claude).endswith("Begin!")
    # The Claude-style prompt names the resources the tools reach.
    assert "builds, epics, issues, merge_requests, documentation answers" in system_text(claude)


async def test_12c_without_unavailable_resources_gitlabs_default_is_told(gateway: Gateway) -> None:
    script(gateway, {"chunks": [DIRECT + "ok"]})
    payload = body(gateway, "claude_3")
    del payload["unavailable_resources"]

    status, events = await ask(gateway, payload)

    assert (status, answer(events)) == (200, "ok")
    assert "Merge Requests, Pipelines, Vulnerabilities" in system_text(model_request(gateway))


async def test_11_a_multi_turn_conversation_with_context_in_gitlabs_order(
    gateway: Gateway,
) -> None:
    script(gateway, {"chunks": [DIRECT + "It adds two numbers."]})
    payload = body(gateway, "gpt")
    payload["messages"] = [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi! How can I help?"},
        {
            "role": "user",
            "content": "What does this do?",
            "context": {"type": "issue", "content": "Issue #3: add numbers"},
            "current_file": {
                "file_path": "calc.py",
                "data": "def add(a, b):",
                "selected_code": True,
            },
            "additional_context": [{"category": "snippet", "id": "s1", "content": "x = add(1, 2)"}],
            "resource_content": "unused",
        },
    ]

    status, events = await ask(
        gateway, payload, scopes=(*ALL_TOOL_SCOPES, "include_snippet_context")
    )

    assert (status, answer(events)) == (200, "It adds two numbers.")
    request = model_request(gateway)
    assert roles(request) == ["system", "user", "assistant", "user", "assistant"]
    assert request["messages"][1]["content"] == "Hello"
    assert request["messages"][2]["content"] == "Hi! How can I help?"
    turn = request["messages"][3]["content"]
    blocks = ["<context>", "<type>issue</type>", "calc.py", "<code>", "<additional_context>"]
    positions = [turn.index(block) for block in blocks]
    assert positions == sorted(positions)
    assert "<category>snippet</category>" in turn
    assert turn.endswith("\n\nWhat does this do?")
    assert "unused" not in turn


async def test_12_claude_gets_plain_stop_whatever_its_served_name(gateway: Gateway) -> None:
    """GitLab's LiteLLM rewrote `stop` for a served name containing "claude" and failed."""
    gateway.stack.simulator.state.config = type(gateway.stack.simulator.state.config)(
        model="claude-3-5-sonnet"
    )
    script(gateway, {"chunks": [DIRECT + "Done."]})
    payload = body(
        gateway, "claude_3", options={"agent_scratchpad": {"agent_type": "react", "steps": [STEP]}}
    )
    payload["model_metadata"] = metadata(gateway, "claude_3", served="claude-3-5-sonnet")

    status, events = await ask(gateway, payload)

    assert (status, answer(events)) == (200, "Done.")
    request = model_request(gateway)
    assert request["stop"] == ["Observation:"]
    assert "stop_sequences" not in request


# 02, 05, 23, 24, 26, 27, 06, 25, 33, 04: how replies parse


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        # 02: an action
        ([ACTION], action("issue_reader", "#12", "I need to read the issue.")),
        # 05: markers split across tiny chunks
        (
            ["I need it.\nAc", "tion: issue_rea", "der\nAction In", "put: #", "12\n"],
            action("issue_reader", "#12", "I need it."),
        ),
        # 24: the model writes its own Thought: label; the thought keeps it
        (
            ["Thought: I need the issue.\nAction: issue_reader\nAction Input: #12"],
            action("issue_reader", "#12", "Thought: I need the issue."),
        ),
        # An escaped name and Rails' class name are the tool's name
        (
            ["x\nAction: MergeRequestReader\nAction Input: !7"],
            action("merge_request_reader", "!7", "x"),
        ),
        # 06: no markers at all
        (
            ["  I am not sure what you mean.  "],
            [{"type": "unknown", "data": {"text": "I am not sure what you mean."}}],
        ),
        # 26: an Action without an Action Input is not an action
        (
            ["I need it.\nAction: issue_reader\n"],
            [{"type": "unknown", "data": {"text": "I need it.\nAction: issue_reader"}}],
        ),
        # 27: an empty reply
        ([], [{"type": "unknown", "data": {"text": ""}}]),
        # 16: a tool that was not offered
        (["x\nAction: DirectAnswer\nAction Input: hi"], error("tool not available")),
        # Non-ASCII is escaped, as json.dumps does
        ([DIRECT + "Grüße"], [{"type": "final_answer_delta", "data": {"text": "Grüße"}}]),
    ],
)
async def test_replies_parse_into_gitlabs_events(
    gateway: Gateway, chunks: list[str], expected: list[dict[str, Any]]
) -> None:
    script(gateway, {"chunks": chunks})

    status, events = await ask(gateway, body(gateway))

    assert (status, events) == (200, expected)


async def test_non_ascii_is_escaped_on_the_wire(gateway: Gateway) -> None:
    script(gateway, {"chunks": [DIRECT + "Grüße"]})

    response = await gateway.http.post(
        "/v2/chat/agent", json=body(gateway), headers=gateway.headers(*ALL_TOOL_SCOPES)
    )

    assert response.text.startswith(
        '{"type": "final_answer_delta", "data": {"text": "Gr\\u00fc\\u00dfe"}}\n'
    )


async def test_04_a_final_answer_in_tiny_chunks(gateway: Gateway) -> None:
    chunks = [
        "I kn",
        "ow.\nAc",
        "tion: Dir",
        "ectAnswer\nFi",
        "nal An",
        "swer",
        ":",
        " The",
        " answer",
        " is 2",
        ".",
        "\n\nPlease",
        " ask",
        " more.",
        "\n",
    ]
    script(gateway, {"chunks": chunks})

    status, events = await ask(gateway, body(gateway))

    # The final newline is never sent (and the whole answer, parsed as it streamed, is right).
    assert (status, answer(events)) == (200, "The answer is 2.\n\nPlease ask more.")


async def test_25_a_final_answer_wins_over_an_action(gateway: Gateway) -> None:
    script(gateway, {"chunks": [ACTION + "\n", "Final Answer: It is a login bug."]})

    status, events = await ask(gateway, body(gateway))

    assert (status, answer(events)) == (200, "It is a login bug.")


async def test_33_text_after_a_message_end_marker_is_dropped(gateway: Gateway) -> None:
    script(gateway, {"chunks": [DIRECT + "First part.", " Second </mess", "age> lost", " text"]})

    status, events = await ask(gateway, body(gateway))

    assert (status, answer(events)) == (200, "First part. Second")


async def test_23_a_model_ignoring_stop_leaks_no_invented_observation(gateway: Gateway) -> None:
    """GitLab's gateway puts the invented Observation (and what follows) into tool_input."""
    reply = ACTION + "\nObservation: The issue says everything is fine.\nThought: Done.\n"
    script(gateway, {"chunks": [reply, "Final Answer: All good."], "honour_stop": False})

    status, events = await ask(gateway, body(gateway))

    assert (status, events) == (200, action("issue_reader", "#12", "I need to read the issue."))
    assert model_request(gateway)["stop"] == ["Observation:"]


# 03, 32, 34, 35: steps taken so far, and Rails' loop


@pytest.mark.parametrize("family", ["mistral", "claude_3"])
async def test_32_rails_loop_action_then_observation_then_final_answer(
    gateway: Gateway, family: str
) -> None:
    script(
        gateway,
        {"chunks": ["I need to read the issue.\nAction: issue_re", "ader\nAction Input: #12"]},
        {"chunks": ["I now know.\nFinal Answer: Issue #12 is about a ", "login failure."]},
    )
    conversation = body(gateway, family)

    status, first = await ask(gateway, conversation)
    assert (status, first) == (200, action("issue_reader", "#12", "I need to read the issue."))
    # Rails runs the tool and asks again with the step and its observation.
    step = {**first[0]["data"], "observation": "Login fails with a 500 error."}
    status, second = await ask(
        gateway,
        {**conversation, "options": {"agent_scratchpad": {"agent_type": "react", "steps": [step]}}},
    )

    assert (status, answer(second)) == (200, "Issue #12 is about a login failure.")
    assert model_request(gateway)["messages"][-1]["content"] == (
        "Thought: I need to read the issue.\nAction: issue_reader\nAction Input: #12\n"
        "Observation: Login fails with a 500 error.\nThought:"
    )
    assert len(gateway.records()) == 2


@pytest.mark.parametrize("family", ["mistral", "claude_3"])  # 34, 35
async def test_two_steps_render_in_order_in_the_pre_fill(gateway: Gateway, family: str) -> None:
    script(gateway, {"chunks": ["Final Answer: Check the logs", " of issue #12."]})
    scratchpad = {"agent_type": "react", "steps": [STEP, SECOND_STEP]}

    status, events = await ask(
        gateway, body(gateway, family, options={"agent_scratchpad": scratchpad})
    )

    assert (status, answer(events)) == (200, "Check the logs of issue #12.")
    assert model_request(gateway)["messages"][-1]["content"] == (
        "Thought: I need to read the issue.\nAction: issue_reader\nAction Input: #12\n"
        'Observation: {"title": "Login fails with 500"}\n'
        "Thought: Now the docs.\nAction: gitlab_documentation\nAction Input: login errors\n"
        "Observation: Check the logs.\nThought:"
    )


async def test_later_rails_sends_steps_on_a_trailing_assistant_message(gateway: Gateway) -> None:
    script(gateway, {"chunks": ["Final Answer: Done."]})
    payload = body(gateway)
    payload["messages"].append(
        {
            "role": "assistant",
            "agent_scratchpad": [
                {
                    "action": {"thought": "t", "tool": "issue_reader", "tool_input": "#12"},
                    "observation": "o",
                }
            ],
        }
    )

    status, events = await ask(gateway, payload)

    assert (status, answer(events)) == (200, "Done.")
    request = model_request(gateway)
    assert roles(request) == ["user", "assistant"]
    assert request["messages"][-1]["content"] == (
        "Thought: t\nAction: issue_reader\nAction Input: #12\nObservation: o\nThought:"
    )


# 15: no model_metadata: the configured duo_chat model answers


async def test_15_without_model_metadata_the_configured_model_answers(gateway: Gateway) -> None:
    await gateway.stack.add_model("chat", gateway.stack.simulator.endpoint, family="claude_3")
    await gateway.stack.assign("duo_chat", "chat")
    script(gateway, {"chunks": [DIRECT + "Hi."]})
    payload = body(gateway)
    del payload["model_metadata"]

    status, events = await ask(gateway, payload)

    assert (status, answer(events)) == (200, "Hi.")
    assert roles(model_request(gateway)) == ["system", "user", "assistant"]


# 16-20, 21, 22: tools and scopes


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("", error("tool not available")),  # 17
        (
            "other_flag, ai_commit_reader_for_chat",
            action("commit_reader", "1a2b3c4", "I need the commit."),
        ),  # 18
    ],
)
async def test_17_18_commit_reader_needs_its_feature_flag(
    gateway: Gateway, flags: str, expected: list[dict[str, Any]]
) -> None:
    script(
        gateway, {"chunks": ["I need the commit.\nAction: commit_reader\nAction Input: 1a2b3c4"]}
    )

    status, events = await ask(
        gateway, body(gateway), headers={"X-Gitlab-Enabled-Feature-Flags": flags}
    )

    assert (status, events) == (200, expected)
    listed = "commit_reader" in system_text(model_request(gateway))
    assert listed is bool(flags)


@pytest.mark.parametrize(
    ("version", "tools", "expected"),
    [
        ("17.4.0", "[issue_reader,gitlab_documentation]", error("tool not available")),  # 19
        (
            "17.8.0",
            "[issue_reader,merge_request_reader,gitlab_documentation]",
            action("merge_request_reader", "!7", "I need the MR."),
        ),  # 20
    ],
)
async def test_19_20_tools_follow_scopes_and_gitlab_version(
    gateway: Gateway, version: str, tools: str, expected: list[dict[str, Any]]
) -> None:
    script(gateway, {"chunks": ["I need the MR.\nAction: merge_request_reader\nAction Input: !7"]})
    scopes = ("duo_chat", "ask_issue", "documentation_search", "ask_merge_request")

    status, events = await ask(
        gateway, body(gateway), scopes, headers={"X-Gitlab-Version": version}
    )

    assert (status, events) == (200, expected)
    assert tools in system_text(model_request(gateway))


@pytest.mark.parametrize(
    ("scopes", "extra", "detail"),
    [
        (("ask_issue",), {}, "Unauthorized to access duo chat"),  # 21
        (
            ("duo_chat",),
            {"additional_context": [{"category": "file", "id": "a.py", "content": "x"}]},
            "Unauthorized to access include_file_context",
        ),  # 22
    ],
)
async def test_21_22_missing_scopes_are_403_before_any_model_call(
    gateway: Gateway, scopes: tuple[str, ...], extra: dict[str, Any], detail: str
) -> None:
    payload = body(gateway)
    payload["messages"][0].update(extra)

    status, answer_body = await ask(gateway, payload, scopes)

    assert (status, answer_body) == (403, [{"detail": detail}])
    assert gateway.records() == []


# 07, 08, 09: model failures


async def test_07_a_model_error_is_one_error_event(gateway: Gateway) -> None:
    # A 500 is tried three times in all (the proxy's retries before the first token).
    script(gateway, *[{"fail_status": 500, "fail_body": {"error": "Internal Server Error"}}] * 3)

    status, events = await ask(gateway, body(gateway))

    assert (status, events) == (200, error("Inference failed"))


async def test_09_an_overloaded_model_is_retryable(gateway: Gateway) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    script(gateway, *[{"fail_status": 500, "fail_body": {"error": json.dumps(overloaded)}}] * 3)

    status, events = await ask(gateway, body(gateway))

    assert (status, events) == (
        200,
        error("Inference failed: the model server is overloaded (overloaded_error)", True),
    )


async def test_08_a_stream_breaking_mid_answer_ends_with_an_error_event(gateway: Gateway) -> None:
    script(
        gateway,
        {"chunks": [DIRECT + "Part one", " and two", " never"], "error_after_chunks": 2},
    )

    status, events = await ask(gateway, body(gateway))

    assert status == 200
    assert answer(events[:-1]) == "Part one and two"
    assert events[-1] == error("Inference failed")[0]


# 12d, 28, 29, 30, 31 and families without an agent prompt: refused before streaming


@pytest.mark.parametrize(
    ("change", "field"),
    [
        # 12d: GitLab's `vertex` family is not one aigw knows
        (lambda p: p["model_metadata"].update(name="vertex"), "model_metadata.name"),
        # A family aigw knows but that has no agent prompt (not chat-capable)
        (lambda p: p["model_metadata"].update(name="deepseekcoder"), "model_metadata.name"),
        # 28: GitLab answers 200 and an "Unsupported message" error event
        (lambda p: p["messages"].insert(0, {"role": "system", "content": "Be terse."}), "messages"),
        # 29: GitLab answers 200 and "Last message must be a human message"
        (lambda p: p["messages"].append({"role": "assistant", "content": "Hm"}), "messages"),
        # 30
        (lambda p: p.pop("messages"), "messages"),
        # 31
        (
            lambda p: p.update(options={"agent_scratchpad": {"agent_type": "plan", "steps": []}}),
            "options",
        ),
    ],
)
async def test_bad_requests_are_422_before_any_model_call(
    gateway: Gateway, change: Any, field: str
) -> None:
    payload = body(gateway)
    change(payload)

    status, [refusal] = await ask(gateway, payload)

    assert status == 422, refusal
    # FastAPI's list of problems, each naming its field by `loc`.
    fields = [".".join(map(str, problem["loc"][1:])) for problem in refusal["detail"]]
    assert any(name.startswith(field) for name in fields), refusal
    assert gateway.records() == []
