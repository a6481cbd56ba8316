"""The GitLab routes beyond /v2/code/completions: what reaches the router, the exact bodies and
stream formats that come back, and each route's own error words (router double at the wire)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common import errors
from rest_shim.routes.chat_invokables import FEATURES
from tests.rest_shim.conftest import (
    AUTH_HEADERS,
    SERVED_BY,
    USAGE,
    RunningRouter,
    completion_body,
)

ANSWER = "    return a + b\n"


def _chat_body(content: Any = "Explain this code", **payload: Any) -> dict[str, Any]:
    return {
        "prompt_components": [
            {
                "type": "prompt",
                "metadata": {"source": "GitLab EE", "version": "17.6.0"},
                "payload": {"content": content, **payload},
            }
        ],
        "stream": False,
    }


def _v3_body(kind: str = "code_editor_completion", **payload: Any) -> dict[str, Any]:
    return {
        "prompt_components": [
            {
                "type": kind,
                "payload": {
                    "file_name": "add.py",
                    "content_above_cursor": "def add(a, b):\n",
                    "content_below_cursor": "",
                    **payload,
                },
                "metadata": {"source": "vscode", "version": "5.1.0"},
            },
            {"type": "code_context", "payload": {"type": "file", "name": "b.py", "content": "x"}},
        ]
    }


# /v2/code/generations


async def test_generations_answer_gitlabs_suggestions_response(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    body = completion_body(prompt_id="code_suggestions/generations", prompt_version=2, prompt="")

    response = await client.post("/v2/code/generations", json=body, headers=AUTH_HEADERS)

    assert response.status_code == 200
    answer = response.json()
    assert abs(answer.pop("created") - time.time()) < 60
    assert answer == {
        "id": "id",
        "object": "text_completion",
        "model": {
            "engine": "openai_compatible",
            "name": "codestral-22b",
            "lang": "python",
            "tokens_consumption_metadata": {
                "input_tokens": 12,
                "output_tokens": 7,
                "max_output_tokens_used": False,
                "context_tokens_sent": 0,
                "context_tokens_used": 0,
            },
        },
        "experiments": [],
        "choices": [{"text": ANSWER, "index": 0, "finish_reason": "length"}],
    }
    [completion] = router.servicer.completions
    assert completion.feature == "code_generations"
    assert completion.code.content_above_cursor == "def add(a, b):\n"
    assert not completion.verbatim


async def test_a_prompt_prepared_by_the_client_goes_verbatim(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    v2 = completion_body(prompt_version=2, prompt="Write a add function")
    v3 = completion_body(prompt_version=3, prompt=[{"role": "user", "content": "Write add"}])

    for body in (v2, v3):
        response = await client.post("/v2/code/generations", json=body, headers=AUTH_HEADERS)
        assert response.status_code == 200

    by_prompt, by_messages = router.servicer.completions
    assert by_prompt.verbatim
    assert by_prompt.prompt == "Write a add function"
    assert by_messages.verbatim
    assert [(m.role, m.content) for m in by_messages.chat.messages] == [
        (common_pb2.ROLE_USER, "Write add")
    ]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"prompt_version": 2}, "prompt_version 2 needs a string prompt"),
        ({"prompt_version": 3, "prompt": "text"}, "prompt_version 3 needs a list"),
        ({"model_provider": "litellm", "model_name": "qwen2p5-coder-7b"}, "'model_name'"),
    ],
)
async def test_generation_bodies_are_checked_as_gitlab_checks_them(
    client: httpx.AsyncClient, router: RunningRouter, changes: dict[str, Any], words: str
) -> None:
    response = await client.post(
        "/v2/code/generations", json=completion_body(**changes), headers=AUTH_HEADERS
    )

    assert response.status_code == 422
    assert any(words in str(problem) for problem in response.json()["detail"])
    assert router.servicer.completions == []


@pytest.mark.parametrize(
    ("route", "body", "words"),
    [
        ("/v2/code/completions", completion_body(), "Unauthorized to access code completions"),
        ("/v2/code/generations", completion_body(), "Unauthorized to access code generations"),
        ("/v3/code/completions", _v3_body(), "Unauthorized to access code suggestions"),
        ("/v4/code/suggestions", _v3_body(), "Unauthorized to access code suggestions"),
        ("/v1/chat/explain_code", _chat_body(), "Unauthorized to access explain_code"),
        (
            "/v1/prompts/chat%2Fexplain_code",
            {"inputs": {}},
            "Unauthorized to access 'chat/explain_code'",
        ),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_each_route_refuses_a_missing_scope_in_its_own_words(
    client: httpx.AsyncClient,
    router: RunningRouter,
    route: str,
    body: dict[str, Any],
    words: str,
    stream: bool,
) -> None:
    scope = "explain_code" if "explain" in route else "complete_code"
    router.fail_with(errors.PermissionDenied("token lacks it", metadata={"scope": scope}))
    body = json.loads(json.dumps(body))
    if "prompt_components" in body and "type" in body["prompt_components"][0]:
        target = body if route.startswith("/v1/chat") else body["prompt_components"][0]["payload"]
        target["stream"] = stream
    else:
        body["stream"] = stream

    response = await client.post(route, json=body, headers=AUTH_HEADERS)

    assert response.status_code == 403
    assert response.json() == {"detail": words}


# /v1/chat/{chat_invokable}


@pytest.mark.parametrize(("invokable", "feature"), sorted(FEATURES.items()))
async def test_each_invokable_is_served_by_its_feature(
    client: httpx.AsyncClient, router: RunningRouter, invokable: str, feature: str
) -> None:
    response = await client.post(f"/v1/chat/{invokable}", json=_chat_body(), headers=AUTH_HEADERS)

    assert response.status_code == 200
    [completion] = router.servicer.completions
    assert completion.feature == feature
    # Rails' prompt goes to the model as it is.
    assert completion.verbatim
    assert [(m.role, m.content) for m in completion.chat.messages] == [
        (common_pb2.ROLE_USER, "Explain this code")
    ]


async def test_chat_answers_gitlabs_chat_response(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    messages = [
        {"role": "system", "content": "You are Duo."},
        {"role": "user", "content": "Explain x = 1"},
    ]
    body = _chat_body(messages, provider="litellm", model="mistral")

    response = await client.post("/v1/chat/agent", json=body, headers=AUTH_HEADERS)

    answer = response.json()
    assert abs(answer["metadata"].pop("timestamp") - time.time()) < 60
    assert answer == {"response": ANSWER, "metadata": {"provider": "litellm", "model": "mistral"}}
    [completion] = router.servicer.completions
    assert [m.role for m in completion.chat.messages] == [
        common_pb2.ROLE_SYSTEM,
        common_pb2.ROLE_USER,
    ]


async def test_chat_streams_plain_text(client: httpx.AsyncClient, router: RunningRouter) -> None:
    body = {**_chat_body(), "stream": True}

    response = await client.post("/v1/chat/explain_code", json=body, headers=AUTH_HEADERS)

    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text == ANSWER


async def test_an_unknown_invokable_is_gitlabs_404(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    response = await client.post("/v1/chat/fix_everything", json=_chat_body(), headers=AUTH_HEADERS)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found"}
    assert router.servicer.completions == []


@pytest.mark.parametrize(
    "body",
    [
        {**_chat_body(), "prompt_components": []},
        {"prompt_components": _chat_body()["prompt_components"] * 2},
        _chat_body("x" * 400_001),
        _chat_body([]),
    ],
)
async def test_chat_bodies_outside_gitlabs_limits_are_422(
    client: httpx.AsyncClient, router: RunningRouter, body: dict[str, Any]
) -> None:
    response = await client.post("/v1/chat/agent", json=body, headers=AUTH_HEADERS)

    assert response.status_code == 422
    assert all("prompt_components" in problem["loc"] for problem in response.json()["detail"])


# /v1/prompts/{prompt_id:path}


async def test_a_prompt_invocation_returns_the_text_as_a_json_string(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    body = {"inputs": {"code": "x = 1", "lines": [1, 2]}, "prompt_version": "^1.0.0"}

    response = await client.post("/v1/prompts/chat%2Fexplain_code", json=body, headers=AUTH_HEADERS)
    streamed = await client.post(
        "/v1/prompts/chat/explain_code", json={**body, "stream": True}, headers=AUTH_HEADERS
    )

    assert response.status_code == 200
    assert response.json() == ANSWER
    assert streamed.text == ANSWER
    completion = router.servicer.completions[0]
    assert completion.invocation.prompt_id == "chat/explain_code"
    assert dict(completion.invocation.inputs) == {"code": "x = 1", "lines": [1.0, 2.0]}


@pytest.mark.parametrize("constraint", ["^1.0.0", "1.0.0-dev", ">=1.0, <2.0", "~1.2", "*"])
async def test_well_formed_version_constraints_are_accepted(
    client: httpx.AsyncClient, router: RunningRouter, constraint: str
) -> None:
    body = {"inputs": {}, "prompt_version": constraint}

    response = await client.post("/v1/prompts/chat/explain_code", json=body, headers=AUTH_HEADERS)

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (errors.NotFound("Prompt 'nope' not found"), 404, "Prompt 'nope' not found"),
        (
            errors.UpstreamRejected("the server said 401", metadata={"http_status": "401"}),
            421,
            "401: Unauthorized",
        ),
        (
            errors.UpstreamUnavailable("the server said 503", metadata={"http_status": "503"}),
            421,
            "503: Service Unavailable",
        ),
        (errors.UpstreamUnavailable("cannot connect"), 503, "Inference failed"),
    ],
)
async def test_prompt_failures_answer_as_gitlab(
    client: httpx.AsyncClient,
    router: RunningRouter,
    error: errors.AigwError,
    status: int,
    detail: str,
) -> None:
    router.fail_with(error)

    response = await client.post("/v1/prompts/nope", json={"inputs": {}}, headers=AUTH_HEADERS)

    assert response.status_code == status
    assert response.json() == {"detail": detail}


async def test_an_invalid_version_constraint_is_422(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    body = {"inputs": {}, "prompt_version": "latest please"}

    response = await client.post("/v1/prompts/chat/explain_code", json=body, headers=AUTH_HEADERS)

    assert response.status_code == 422
    assert response.json() == {"detail": "Invalid version constraint"}
    assert router.servicer.completions == []


# /v2/chat/agent


def _agent_body(**message: Any) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": "What is 1 + 1?"},
            {"role": "assistant", "content": "2"},
            {"role": "user", "content": "And this file?", **message},
        ],
        "unavailable_resources": ["Pipelines"],
        "some_future_field": True,
    }


def _ndjson(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


async def test_the_agent_frames_the_routers_events_as_ndjson(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    router.servicer.agent_events = [
        router_service_pb2.StreamAgentResponse(
            final_answer_delta=router_service_pb2.AgentFinalAnswerDelta(text="Grüße"),
            served_by=SERVED_BY,
        ),
        router_service_pb2.StreamAgentResponse(
            action=router_service_pb2.AgentAction(tool="issue_reader", tool_input="#1", thought="t")
        ),
        router_service_pb2.StreamAgentResponse(unknown=router_service_pb2.AgentUnknown(text="u")),
        router_service_pb2.StreamAgentResponse(
            error=router_service_pb2.AgentError(message="tool not available")
        ),
        router_service_pb2.StreamAgentResponse(usage=USAGE),
    ]

    response = await client.post("/v2/chat/agent", json=_agent_body(), headers=AUTH_HEADERS)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson; charset=utf-8"
    # json.dumps' defaults (separators, ASCII escapes), one object per line, as GitLab's.
    assert response.text == (
        '{"type": "final_answer_delta", "data": {"text": "Gr\\u00fc\\u00dfe"}}\n'
        '{"type": "action", "data": {"tool": "issue_reader", "tool_input": "#1", '
        '"thought": "t"}}\n'
        '{"type": "unknown", "data": {"text": "u"}}\n'
        '{"type": "error", "data": {"message": "tool not available", "retryable": false}}\n'
        '{"type": "usage", "data": {"usage": {"codestral-22b": '
        '{"input_tokens": 12, "output_tokens": 7}}}}\n'
    )


async def test_gitlabs_body_becomes_the_agent_request(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    body = _agent_body(
        context={"type": "issue", "content": "Issue #1"},
        current_file={"file_path": "a.py", "data": "x = 1", "selected_code": True},
        additional_context=[{"category": "file", "id": "b.py", "content": "y = 2"}],
    )
    body["options"] = {
        "agent_scratchpad": {
            "agent_type": "react",
            "steps": [
                {"thought": "use issue\\_reader", "tool": "issue\\_reader",
                 "tool_input": "a\\_b", "observation": "o\\_k"}
            ],
        }
    }  # fmt: skip
    headers = {
        **AUTH_HEADERS,
        "X-Gitlab-Version": "17.8.0",
        "X-Gitlab-Enabled-Feature-Flags": "a, ai_commit_reader_for_chat,,",
    }

    await client.post("/v2/chat/agent", json=body, headers=headers)

    [agent] = router.servicer.agent_requests
    assert [(m.role, m.content) for m in agent.messages] == [
        (common_pb2.ROLE_USER, "What is 1 + 1?"),
        (common_pb2.ROLE_ASSISTANT, "2"),
        (common_pb2.ROLE_USER, "And this file?"),
    ]
    last = agent.messages[-1]
    assert (last.page.type, last.page.content) == ("issue", "Issue #1")
    assert (last.current_file.file_path, last.current_file.selected_code) == ("a.py", True)
    assert [(c.category, c.id, c.content) for c in last.additional_context] == [
        ("file", "b.py", "y = 2")
    ]
    # Rails' Markdown escapes go from thought and tool, never from the tool's data.
    [step] = agent.steps
    assert (step.thought, step.tool, step.tool_input, step.observation) == (
        "use issue_reader",
        "issue_reader",
        "a\\_b",
        "o\\_k",
    )
    assert list(agent.unavailable_resources) == ["Pipelines"]
    assert agent.gitlab_version == "17.8.0"
    assert list(agent.feature_flags) == ["a", "ai_commit_reader_for_chat"]
    assert not agent.HasField("custom_model")


async def test_unavailable_resources_default_to_gitlabs(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    body = _agent_body()
    del body["unavailable_resources"]

    await client.post("/v2/chat/agent", json=body, headers=AUTH_HEADERS)

    [agent] = router.servicer.agent_requests
    assert list(agent.unavailable_resources) == ["Merge Requests, Pipelines, Vulnerabilities"]


@pytest.mark.parametrize(
    ("scope", "words"),
    [
        ("duo_chat", "Unauthorized to access duo chat"),
        ("include_file_context", "Unauthorized to access include_file_context"),
    ],
)
async def test_agent_refusals_are_http_errors_in_gitlabs_words(
    client: httpx.AsyncClient, router: RunningRouter, scope: str, words: str
) -> None:
    router.fail_with(errors.PermissionDenied("no", metadata={"scope": scope}))

    response = await client.post("/v2/chat/agent", json=_agent_body(), headers=AUTH_HEADERS)

    assert response.status_code == 403
    assert response.json() == {"detail": words}


async def test_the_routers_refusal_of_the_body_is_422(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    router.fail_with(
        errors.InvalidArgument(
            "messages[2]: the last message must be the user's", field="messages.role"
        )
    )

    response = await client.post("/v2/chat/agent", json=_agent_body(), headers=AUTH_HEADERS)

    assert response.status_code == 422
    assert "the last message must be the user's" in json.dumps(response.json())


async def test_router_failures_are_error_events_in_a_200_stream(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    router.fail_with(errors.UpstreamUnavailable("router at 10.0.0.5 unreachable"))
    before = await client.post("/v2/chat/agent", json=_agent_body(), headers=AUTH_HEADERS)
    router.fail_with(errors.UpstreamRejected("bug"), after_chunks=1)
    during = await client.post("/v2/chat/agent", json=_agent_body(), headers=AUTH_HEADERS)
    router.fail_with(errors.FeatureUnavailable("feature 'duo_chat' is disabled by the operator"))
    disabled = await client.post("/v2/chat/agent", json=_agent_body(), headers=AUTH_HEADERS)

    assert before.status_code == during.status_code == disabled.status_code == 200
    assert _ndjson(before.text) == [
        {"type": "error", "data": {"message": "Inference failed", "retryable": True}}
    ]
    assert _ndjson(during.text) == [
        {"type": "final_answer_delta", "data": {"text": "    return"}},
        {"type": "error", "data": {"message": "Inference failed", "retryable": False}},
    ]
    assert _ndjson(disabled.text) == [
        {
            "type": "error",
            "data": {
                "message": "feature 'duo_chat' is disabled by the operator",
                "retryable": False,
            },
        }
    ]
    assert "10.0.0.5" not in before.text


async def test_a_scratchpad_on_a_user_message_is_gitlabs_400(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    body = _agent_body(agent_scratchpad=[{"observation": "x"}])

    response = await client.post("/v2/chat/agent", json=body, headers=AUTH_HEADERS)

    assert response.status_code == 400
    assert response.json() == {
        "detail": "agent_scratchpad can only be present when role is ASSISTANT"
    }
    assert router.servicer.agent_requests == []


# /v3/code/completions and /v4/code/suggestions


@pytest.mark.parametrize("route", ["/v3/code/completions", "/v4/code/suggestions"])
async def test_v3_and_v4_answer_gitlabs_completion_response(
    client: httpx.AsyncClient, router: RunningRouter, route: str
) -> None:
    response = await client.post(route, json=_v3_body(), headers=AUTH_HEADERS)

    body = response.json()
    assert abs(body["metadata"].pop("timestamp") - time.time()) < 60
    assert body == {
        "choices": [{"text": ANSWER, "index": 0, "finish_reason": "length"}],
        "metadata": {
            "model": {"engine": "openai_compatible", "name": "codestral-22b", "lang": "python"},
            "enabled_feature_flags": [],
            "region": None,
        },
    }
    [completion] = router.servicer.completions
    assert completion.feature == "code_completions"


async def test_a_generation_component_asks_for_code_generation(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    body = _v3_body("code_editor_generation", prompt_id="code_suggestions/generations")

    await client.post("/v3/code/completions", json=body, headers=AUTH_HEADERS)

    assert router.servicer.completions[0].feature == "code_generations"


async def test_v3_streams_plain_text(client: httpx.AsyncClient, router: RunningRouter) -> None:
    response = await client.post(
        "/v3/code/completions", json=_v3_body(stream=True), headers=AUTH_HEADERS
    )

    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text == ANSWER


async def test_v4_streams_gitlabs_sse_events(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    response = await client.post(
        "/v4/code/suggestions", json=_v3_body(stream=True), headers=AUTH_HEADERS
    )

    assert response.headers["X-Streaming-Format"] == "sse"
    assert response.headers["content-type"].startswith("text/event-stream")
    timestamp = re.search(r'"timestamp": (\d+)', response.text)
    assert timestamp is not None
    assert response.text == (
        "event: stream_start\r\n"
        'data: {"metadata": {"model": {"engine": "openai_compatible", "name": "codestral-22b"}, '
        f'"timestamp": {timestamp.group(1)}, "enabled_feature_flags": []}}}}\r\n\r\n'
        "event: content_chunk\r\n"
        'data: {"choices": [{"delta": {"content": "    return"}, "index": 0}]}\r\n\r\n'
        "event: content_chunk\r\n"
        'data: {"choices": [{"delta": {"content": " a + b"}, "index": 0}]}\r\n\r\n'
        "event: content_chunk\r\n"
        'data: {"choices": [{"delta": {"content": "\\n"}, "index": 0}]}\r\n\r\n'
        "event: stream_end\r\n"
        "data: null\r\n\r\n"
    )


async def test_a_v4_stream_that_fails_ends_without_stream_end(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    router.fail_with(errors.UpstreamUnavailable("gone"), after_chunks=1)

    response = await client.post(
        "/v4/code/suggestions", json=_v3_body(stream=True), headers=AUTH_HEADERS
    )

    assert response.status_code == 200
    assert "content_chunk" in response.text
    assert "stream_end" not in response.text


async def test_a_leading_code_context_component_is_refused(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    body = _v3_body()
    body["prompt_components"].reverse()

    response = await client.post("/v3/code/completions", json=body, headers=AUTH_HEADERS)

    assert response.status_code == 400
    assert "prompt_components[0]" in response.json()["detail"]
