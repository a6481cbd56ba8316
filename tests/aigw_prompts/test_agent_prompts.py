"""Duo Chat's agent prompt: every chat-capable family has one, renders GitLab's structure
(system, the conversation with each user turn's context, the pre-fill with the steps), and
renders exactly the golden prompt in golden/duo_chat_agent.yaml (rewrite it with
`UPDATE_GOLDEN=1 .venv/bin/pytest tests/aigw_prompts/test_agent_prompts.py`, review the diff)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common import catalog
from aigw_prompts import UnknownPrompt, agent_families, prepare_agent
from aigw_prompts.registry import PromptRegistry
from router_svc.agent.tools import TOOLS

GOLDEN = Path(__file__).parent / "golden" / "duo_chat_agent.yaml"
_UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

REQUEST = router_service_pb2.StreamAgentRequest(
    messages=[
        router_service_pb2.AgentMessage(role=common_pb2.ROLE_USER, content="Hello"),
        router_service_pb2.AgentMessage(
            role=common_pb2.ROLE_ASSISTANT, content="Hi! How can I help?"
        ),
        router_service_pb2.AgentMessage(
            role=common_pb2.ROLE_USER,
            content="Why does login fail?",
            page=router_service_pb2.PageContext(type="issue", content="Issue #12: login fails"),
            current_file=router_service_pb2.CurrentFile(
                file_path="app/login.py", data="def login(user): ...", selected_code=False
            ),
            additional_context=[
                router_service_pb2.AdditionalContext(
                    category="snippet", id="trace", content="HTTP 500 at login"
                )
            ],
        ),
    ],
    steps=[
        router_service_pb2.AgentStep(
            thought="I need the issue.",
            tool="issue_reader",
            tool_input="#12",
            observation="Login fails since 17.8.",
        )
    ],
    unavailable_resources=["Pipelines", "Vulnerabilities"],
)
CHAT_FAMILIES = sorted(name for name, spec in catalog.FAMILY_SPECS.items() if spec.chat_capable)


def _rendered(family: str) -> dict[str, Any]:
    prepared = prepare_agent(REQUEST, TOOLS[:5], family)
    return {
        "template": prepared.template_id,
        "messages": [
            {"role": common_pb2.Role.Name(m.role), "content": m.content}
            for m in prepared.generation.chat.messages
        ],
        "parameters": json_format.MessageToDict(prepared.generation.parameters),
        "timeout_s": prepared.timeout_s,
    }


def test_every_chat_capable_family_has_an_agent_prompt() -> None:
    assert agent_families() == CHAT_FAMILIES
    assert CHAT_FAMILIES == [
        "claude_3",
        "codestral",
        "general",
        "gpt",
        "llama3",
        "mistral",
        "mixtral",
    ]


@pytest.mark.parametrize("family", sorted(set(catalog.FAMILIES) - set(CHAT_FAMILIES)))
def test_other_families_have_none(family: str) -> None:
    with pytest.raises(UnknownPrompt):
        prepare_agent(REQUEST, TOOLS, family)


@pytest.mark.parametrize("family", CHAT_FAMILIES)
def test_the_structure_gitlab_rails_relies_on(family: str) -> None:
    rendered = _rendered(family)
    messages = rendered["messages"]
    roles = [m["role"] for m in messages]
    if catalog.family(family).system_role:
        assert roles == [
            "ROLE_SYSTEM",
            "ROLE_USER",
            "ROLE_ASSISTANT",
            "ROLE_USER",
            "ROLE_ASSISTANT",
        ]
        system = messages[0]["content"]
    else:  # the system text opens the first user turn
        assert roles == ["ROLE_USER", "ROLE_ASSISTANT", "ROLE_USER", "ROLE_ASSISTANT"]
        system = messages[0]["content"].removesuffix("\n\nHello")
    assert messages[-3]["content"] == "Hi! How can I help?"
    turn = messages[-2]["content"]
    order = [turn.index(part) for part in ("<context>", "app/login.py", "<additional_context>")]
    assert order == sorted(order)
    assert turn.endswith("Why does login fail?")
    assert messages[-1]["content"] == (
        "Thought: I need the issue.\nAction: issue_reader\nAction Input: #12\n"
        "Observation: Login fails since 17.8.\nThought:"
    )
    for tool in TOOLS[:5]:
        assert f"<name>{tool.name}</name>" in system
    assert "commit_reader" not in system
    assert "Pipelines, Vulnerabilities" in system
    assert "Final Answer:" in system
    assert "Action Input:" in system
    assert rendered["parameters"] == {
        "maxTokens": 4096,
        "temperature": pytest.approx(0.1),
        "stopSequences": ["Observation:"],
    }


def test_every_family_renders_the_golden_prompt() -> None:
    actual = {family: _rendered(family) for family in CHAT_FAMILIES}
    if _UPDATE:
        GOLDEN.write_text(
            yaml.safe_dump(actual, allow_unicode=True, sort_keys=False, width=100),
            encoding="utf-8",
        )
    expected = yaml.safe_load(GOLDEN.read_text(encoding="utf-8"))
    for family in CHAT_FAMILIES:
        expected[family]["parameters"]["temperature"] = pytest.approx(0.1)
        assert actual[family] == expected[family], family


def test_a_react_template_needs_its_three_texts(tmp_path: Path) -> None:
    folder = tmp_path / "duo_chat_agent" / "mistral"
    folder.mkdir(parents=True)
    (folder / "1.0.0.yaml").write_text("mode: react\nsystem: s\nuser: u\n")

    with pytest.raises(ValueError, match="mode react takes"):
        PromptRegistry.load(tmp_path)
