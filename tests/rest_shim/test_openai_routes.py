"""The OpenAI-compatible routes against a router double: what reaches the router, the exact
chunks of a stream, and OpenAI's error object for every failure."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from aigw.common.v1 import common_pb2
from aigw_common import errors
from tests.rest_shim.conftest import RunningRouter

BEARER = {"Authorization": "Bearer test-token"}


def _chat(**fields: Any) -> dict[str, Any]:
    return {"model": "codestral-22b", "messages": [{"role": "user", "content": "hi"}], **fields}


def _events(text: str) -> list[Any]:
    return [
        line.removeprefix("data: ") if line == "data: [DONE]" else json.loads(line[6:])
        for line in text.split("\n\n")
        if line
    ]


async def test_a_chat_completion_reaches_the_router_by_model_name(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    body = _chat(
        messages=[
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}],
            },
        ],
        max_completion_tokens=20,
        temperature=0.5,
        stop="\n\n",
        user="someone",
    )

    response = await client.post("/v1/chat/completions", json=body, headers=BEARER)

    assert response.status_code == 200
    answer = response.json()
    assert answer["id"].startswith("chatcmpl-")
    assert answer["object"] == "chat.completion"
    assert answer["model"] == "codestral-22b"
    assert answer["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "    return a + b\n"},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert answer["usage"] == {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
    [completion] = router.servicer.completions
    assert completion.model == "codestral-22b"
    assert [(m.role, m.content) for m in completion.chat.messages] == [
        (common_pb2.ROLE_SYSTEM, "Be brief."),
        (common_pb2.ROLE_USER, "hi there"),
    ]
    assert completion.parameters.max_tokens == 20
    assert list(completion.parameters.stop_sequences) == ["\n\n"]
    assert router.servicer.metadata[0]["authorization"] == "Bearer test-token"


async def test_feature_prefixed_models_route_by_feature_verbatim(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    await client.post(
        "/v1/completions",
        json={"model": "feature:code_completions", "prompt": ["def f("], "max_tokens": 8},
        headers=BEARER,
    )

    [completion] = router.servicer.completions
    assert completion.feature == "code_completions"
    assert completion.verbatim
    assert completion.prompt == "def f("


async def test_a_chat_stream_is_openais_chunks_with_usage_and_done(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    body = _chat(stream=True, stream_options={"include_usage": True})

    response = await client.post("/v1/chat/completions", json=body, headers=BEARER)

    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert [c["choices"] for c in chunks] == [
        [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": None,
            }
        ],
        [{"index": 0, "delta": {"content": "    return"}, "logprobs": None, "finish_reason": None}],
        [{"index": 0, "delta": {"content": " a + b"}, "logprobs": None, "finish_reason": None}],
        [{"index": 0, "delta": {"content": "\n"}, "logprobs": None, "finish_reason": None}],
        [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
        [],
    ]
    assert [c["usage"] for c in chunks[:-1]] == [None] * 5
    assert chunks[-1]["usage"] == {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}


async def test_a_completion_stream_without_usage_has_no_usage_fields(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    body = {"model": "codestral-22b", "prompt": "def f(", "stream": True}

    response = await client.post("/v1/completions", json=body, headers=BEARER)

    events = _events(response.text)
    assert events[-1] == "[DONE]"
    assert [c["choices"][0]["text"] for c in events[:-1]] == ["    return", " a + b", "\n", ""]
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in events[:-1])


async def test_a_failure_mid_stream_is_an_error_event_without_done(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    router.fail_with(errors.UpstreamUnavailable("vllm at 10.0.0.5 went away"), after_chunks=1)

    response = await client.post("/v1/chat/completions", json=_chat(stream=True), headers=BEARER)

    events = _events(response.text)
    assert events[-1]["error"]["type"] == "server_error"
    assert events[-1]["error"]["message"].startswith("Inference failed (request id ")
    assert "[DONE]" not in events
    assert "10.0.0.5" not in response.text


@pytest.mark.parametrize(
    ("error", "status", "kind", "code"),
    [
        (errors.Unauthenticated("token expired"), 401, "invalid_request_error", "invalid_api_key"),
        (
            errors.NotFound("no model 'x'", field="completion.model"),
            404,
            "invalid_request_error",
            "model_not_found",
        ),
        (errors.PermissionDenied("no scope"), 403, "permission_error", "insufficient_permissions"),
        (errors.ResourceExhausted("busy"), 429, "rate_limit_error", "rate_limit_exceeded"),
        (
            errors.FeatureUnavailable("duo_chat is disabled"),
            503,
            "server_error",
            "feature_unavailable",
        ),
        (errors.UpstreamTimeout("slow"), 504, "server_error", "timeout"),
        (errors.UpstreamRejected("context too long at http://10.0.0.5"), 503, "server_error", None),
        (RuntimeError("db password is hunter2"), 500, "server_error", None),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_router_errors_are_openai_error_objects(
    client: httpx.AsyncClient,
    router: RunningRouter,
    error: Exception,
    status: int,
    kind: str,
    code: str | None,
    stream: bool,
) -> None:
    router.fail_with(error)

    response = await client.post("/v1/chat/completions", json=_chat(stream=stream), headers=BEARER)

    assert response.status_code == status
    body = response.json()["error"]
    assert (body["type"], body["code"]) == (kind, code)
    assert set(body) == {"message", "type", "param", "code"}
    assert "10.0.0.5" not in body["message"]
    assert "hunter2" not in body["message"]


_REFUSED_BY_SERVER = errors.UpstreamInvalidRequest(
    "model m (identifier x at http://10.0.0.5:8000/v1): the server refused the request "
    "(HTTP 400: This model's maximum context length is 4096 tokens)",
    metadata={
        "http_status": "400",
        "upstream_message": "This model's maximum context length is 4096 tokens",
    },
)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_request_the_model_server_refuses_is_400_in_the_servers_words(
    client: httpx.AsyncClient, router: RunningRouter, stream: bool
) -> None:
    router.fail_with(_REFUSED_BY_SERVER)

    response = await client.post("/v1/chat/completions", json=_chat(stream=stream), headers=BEARER)

    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "This model's maximum context length is 4096 tokens",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert "10.0.0.5" not in response.text


@pytest.mark.parametrize(
    "error",
    [
        errors.UpstreamTimeout("slow"),
        errors.FeatureUnavailable("duo_chat is disabled"),
        _REFUSED_BY_SERVER,
    ],
    ids=["timeout", "feature unavailable", "refused by the server"],
)
async def test_an_error_mid_stream_is_the_same_object_as_before_the_stream(
    client: httpx.AsyncClient, router: RunningRouter, error: errors.AigwError
) -> None:
    # Mid-stream errors used to be a fixed server_error whatever the failure.
    router.fail_with(error)
    whole = await client.post("/v1/chat/completions", json=_chat(), headers=BEARER)
    router.fail_with(error, after_chunks=1)
    streamed = await client.post("/v1/chat/completions", json=_chat(stream=True), headers=BEARER)

    in_stream = _events(streamed.text)[-1]["error"]
    expected = whole.json()["error"]
    if expected["message"].startswith("Inference failed"):
        # Each answer names its own request id.
        in_stream["message"] = in_stream["message"].split(" (")[0]
        expected["message"] = expected["message"].split(" (")[0]
    assert in_stream == expected


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        (_chat(messages=[]), "messages"),
        (_chat(messages=[{"role": "tool", "content": "x"}]), "messages"),
        (_chat(n=2), "n"),
        (_chat(temperature=3), "temperature"),
        (_chat(tools=[{"type": "function"}]), "tools"),
        (_chat(stop=[""]), "stop"),
    ],
)
async def test_bad_parameters_are_400_naming_the_parameter(
    client: httpx.AsyncClient, router: RunningRouter, body: dict[str, Any], param: str
) -> None:
    response = await client.post("/v1/chat/completions", json=body, headers=BEARER)

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["param"] == param
    assert router.servicer.completions == []


async def test_router_field_errors_name_the_openai_parameter(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    router.fail_with(errors.InvalidArgument("top_p bad", field="completion.parameters.top_p"))

    response = await client.post("/v1/chat/completions", json=_chat(), headers=BEARER)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "top_p"


async def test_a_suffix_is_refused_by_name(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    body = {"model": "m", "prompt": "def f(", "suffix": "\n"}

    response = await client.post("/v1/completions", json=body, headers=BEARER)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "suffix"


async def test_models_lists_models_then_their_features(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    response = await client.get("/v1/models", headers=BEARER)

    assert response.json() == {
        "object": "list",
        "data": [
            {"id": "codestral-22b", "object": "model", "created": 0, "owned_by": "aigw"},
            {"id": "feature:code_completions", "object": "model", "created": 0, "owned_by": "aigw"},
        ],
    }


async def test_models_refusal_is_an_openai_error(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    router.fail_with(errors.Unauthenticated("no token"))

    response = await client.get("/v1/models")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
