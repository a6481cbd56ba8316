"""Duo Chat's agent loop as GitLab Rails drives it, through the suite as real processes: the
first call answers with an action, the "tool" runs, the second call carries the step and its
observation and gets the final answer. Once with a Mistral-family model GitLab describes in
`model_metadata`, once with a Claude-family model configured with the CLI; the simulator
process is scripted over HTTP with the model's replies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aigw_cli.local_suite import LocalSuite, local_suite

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ACTION_REPLY = ["I need to read issue #12.\nAction: issue_", "reader\nAction Input: #12"]
FINAL_REPLY = ["I now know.\nFinal Answer: Issue #12 is about ", "a login failure."]
OBSERVATION = "Login fails with HTTP 500 since the upgrade."


@pytest.fixture
async def suite(tmp_path: Path) -> AsyncIterator[LocalSuite]:
    async with local_suite(tmp_path / "aigw", env={"AIGW_CUSTOM_MODELS__ENABLED": "true"}) as s:
        yield s


async def _events(http: httpx.AsyncClient, body: dict[str, Any], token: str) -> list[Any]:
    response = await http.post(
        "/v2/chat/agent",
        json=body,
        headers={"Authorization": f"Bearer {token}", "X-Gitlab-Version": "17.8.0"},
    )
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


async def _rails_loop(
    suite: LocalSuite, http: httpx.AsyncClient, token: str, body: dict[str, Any]
) -> list[dict[str, Any]]:
    """Rails' two calls; returns the model requests the simulator received."""
    await http.delete(f"{suite.simulator_url}/_simulator/requests")
    scripted = await http.post(
        f"{suite.simulator_url}/_simulator/replies",
        json={"replies": [{"chunks": ACTION_REPLY}, {"chunks": FINAL_REPLY}]},
    )
    assert scripted.status_code == 200

    first = await _events(http, body, token)
    assert first[0] == {
        "type": "action",
        "data": {
            "tool": "issue_reader",
            "tool_input": "#12",
            "thought": "I need to read issue #12.",
        },
    }
    assert [event["type"] for event in first[1:]] in ([], ["usage"])
    step = {**first[0]["data"], "observation": OBSERVATION}
    second = await _events(
        http,
        {**body, "options": {"agent_scratchpad": {"agent_type": "react", "steps": [step]}}},
        token,
    )
    text = "".join(e["data"]["text"] for e in second if e["type"] == "final_answer_delta")
    assert text == "Issue #12 is about a login failure."
    assert [e["type"] for e in second if e["type"] != "final_answer_delta"] in ([], ["usage"])
    records: list[dict[str, Any]] = (
        await http.get(f"{suite.simulator_url}/_simulator/requests")
    ).json()
    # Not the router's GET /v1/models (the served context, asked once per server).
    return [record for record in records if record["path"] != "/v1/models"]


async def _until_served(
    suite: LocalSuite, http: httpx.AsyncClient, token: str, body: dict[str, Any]
) -> None:
    """Wait for the router to apply the new feature setting (config_svc pushes it)."""
    for _ in range(50):
        await http.post(
            f"{suite.simulator_url}/_simulator/replies",
            json={"replies": [{"chunks": ["Final Answer: ready"]}]},
        )
        events = await _events(http, body, token)
        if events[0] == {"type": "final_answer_delta", "data": {"text": "ready"}}:
            return
        await http.delete(f"{suite.simulator_url}/_simulator/replies")
        await asyncio.sleep(0.1)
    raise AssertionError(f"duo_chat's model never answered: {events}")


async def test_rails_loop_through_the_suite_for_mistral_and_claude(suite: LocalSuite) -> None:
    token = (await suite.aigw("token", "issue", "--scopes", "duo_chat,ask_issue")).strip()
    question = {"role": "user", "content": "What is issue #12 about?"}
    async with httpx.AsyncClient(base_url=suite.rest_url, timeout=30) as http:
        # Mistral, described by GitLab in the request.
        mistral = {
            "messages": [question],
            "model_metadata": {
                "provider": "openai",
                "name": "mistral",
                "endpoint": f"{suite.simulator_url}/v1",
                "identifier": "custom_openai/aigw-simulator",
            },
            "unavailable_resources": ["Pipelines", "Vulnerabilities"],
        }
        records = await _rails_loop(suite, http, token, mistral)
        assert [r["body"]["messages"][-1]["content"] for r in records] == [
            "Thought:",
            "Thought: I need to read issue #12.\nAction: issue_reader\nAction Input: #12\n"
            f"Observation: {OBSERVATION}\nThought:",
        ]
        assert [m["role"] for m in records[0]["body"]["messages"]] == ["user", "assistant"]

        # Claude, configured by the operator: duo_chat's model answers.
        await suite.aigw(
            "models", "add", "claude", "--family", "claude_3", "--platform", "openai_compatible",
            "--endpoint", f"{suite.simulator_url}/v1", "--identifier", "aigw-simulator",
        )  # fmt: skip
        await suite.aigw("features", "set", "duo_chat", "claude")
        claude = {"messages": [question], "unavailable_resources": ["Pipelines"]}
        await _until_served(suite, http, token, claude)
        records = await _rails_loop(suite, http, token, claude)
        assert [m["role"] for m in records[1]["body"]["messages"]] == [
            "system",
            "user",
            "assistant",
        ]
        for record in records:
            assert record["body"]["stop"] == ["Observation:"]
            assert record["body"]["max_tokens"] == 4096
            assert "issue_reader" in record["body"]["messages"][0]["content"]
