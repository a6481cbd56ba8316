"""The simulator speaks vLLM 0.6.4's OpenAI-compatible API byte for byte (providers.md §1)."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from typing import Any

import httpx
import pytest

from aigw_simulator import BackgroundSimulator, simulated_text

_MODEL = "aigw-simulator"


def _normalise(body: str) -> str:
    body = re.sub(r'"id":"(chatcmpl|cmpl)-[0-9a-f]{32}"', r'"id":"\1-X"', body)
    return re.sub(r'"created":\d+', '"created":1732000000', body)


_CHAT_HEAD = (
    '{"id":"chatcmpl-X","object":"chat.completion.chunk","created":1732000000,'
    '"model":"aigw-simulator"'
)
_COMPLETION_HEAD = (
    '{"id":"cmpl-X","object":"text_completion","created":1732000000,"model":"aigw-simulator"'
)


def _event(head: str, rest: str) -> str:
    return f"data: {head},{rest}}}\n\n"


def test_chat_stream_bytes(http: httpx.Client) -> None:
    response = http.post(
        "/v1/chat/completions",
        json={
            "model": _MODEL,
            "messages": [{"role": "user", "content": "say hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    tail = '"logprobs":null,"finish_reason":null}]'
    assert _normalise(response.text) == (
        _event(
            _CHAT_HEAD, '"choices":[{"index":0,"delta":{"role":"assistant","content":""},' + tail
        )
        + _event(_CHAT_HEAD, '"choices":[{"index":0,"delta":{"content":" tok0"},' + tail)
        + _event(_CHAT_HEAD, '"choices":[{"index":0,"delta":{"content":" tok1"},' + tail)
        + _event(
            _CHAT_HEAD,
            '"choices":[{"index":0,"delta":{"content":" tok2"},"logprobs":null,'
            '"finish_reason":"stop","stop_reason":null}]',
        )
        + _event(
            _CHAT_HEAD,
            '"choices":[],"usage":{"prompt_tokens":2,"total_tokens":5,"completion_tokens":3}',
        )
        + "data: [DONE]\n\n"
    )


def test_chat_stream_without_usage_has_no_usage_key(http: httpx.Client) -> None:
    response = http.post(
        "/v1/chat/completions",
        json={"model": _MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True},
    )

    events = response.text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all("usage" not in event for event in events)
    assert len(events) == 1 + 3 + 1 + 1  # role, tokens, [DONE], trailing ""


def test_completion_stream_bytes(http: httpx.Client) -> None:
    response = http.post(
        "/v1/completions",
        json={
            "model": _MODEL,
            "prompt": "def f(",
            "max_tokens": 2,
            "stream": True,
            "stream_options": {},  # {} means include_usage
        },
    )

    choice = '"choices":[{"index":0,"text":" tok%d","logprobs":null,"finish_reason":%s,'
    assert _normalise(response.text) == (
        _event(_COMPLETION_HEAD, choice % (0, "null") + '"stop_reason":null}],"usage":null')
        + _event(_COMPLETION_HEAD, choice % (1, '"length"') + '"stop_reason":null}],"usage":null')
        + _event(
            _COMPLETION_HEAD,
            '"choices":[],"usage":{"prompt_tokens":2,"total_tokens":4,"completion_tokens":2}',
        )
        + "data: [DONE]\n\n"
    )


def test_chat_json_bytes(http: httpx.Client) -> None:
    response = http.post(
        "/v1/chat/completions",
        json={"model": _MODEL, "messages": [{"role": "user", "content": "a b c"}]},
    )

    assert response.headers["content-type"] == "application/json"
    assert _normalise(response.text) == (
        '{"id":"chatcmpl-X","object":"chat.completion","created":1732000000,'
        '"model":"aigw-simulator","choices":[{"index":0,"message":{"role":"assistant",'
        '"content":" tok0 tok1 tok2","tool_calls":[]},"logprobs":null,"finish_reason":"stop",'
        '"stop_reason":null}],"usage":{"prompt_tokens":3,"total_tokens":6,"completion_tokens":3,'
        '"prompt_tokens_details":null},"prompt_logprobs":null}'
    )


def test_completion_json_and_default_max_tokens(
    http: httpx.Client, sim: BackgroundSimulator
) -> None:
    sim.state.config = dataclasses.replace(sim.state.config, tokens=40)

    body = http.post("/v1/completions", json={"model": _MODEL, "prompt": "x"}).json()

    (choice,) = body["choices"]
    assert choice["text"] == simulated_text(16)  # vLLM's default max_tokens for completions
    assert choice["finish_reason"] == "length"
    assert list(choice) == [
        "index",
        "text",
        "logprobs",
        "finish_reason",
        "stop_reason",
        "prompt_logprobs",
    ]
    assert body["usage"] == {
        "prompt_tokens": 1,
        "total_tokens": 17,
        "completion_tokens": 16,
        "prompt_tokens_details": None,
    }


def test_stop_string_is_cut_and_reported(http: httpx.Client) -> None:
    body = http.post(
        "/v1/completions", json={"model": _MODEL, "prompt": "x", "stop": ["1 t"]}
    ).json()

    (choice,) = body["choices"]
    assert choice["text"] == " tok0 tok"
    assert choice["finish_reason"] == "stop"
    assert choice["stop_reason"] == "1 t"


def test_models_card(http: httpx.Client) -> None:
    body = http.get("/v1/models").json()

    (card,) = body["data"]
    assert body["object"] == "list"
    assert card["id"] == card["root"] == _MODEL
    assert card["owned_by"] == "vllm"
    assert card["parent"] is None
    assert card["max_model_len"] == 32768


def test_health_is_200_with_empty_body(http: httpx.Client) -> None:
    response = http.get("/health")

    assert response.status_code == 200
    assert response.content == b""


def test_request_id_is_echoed_or_made(http: httpx.Client) -> None:
    given = http.get("/v1/models", headers={"X-Request-Id": "abc-123"})
    made = http.get("/v1/models")

    assert given.headers["x-request-id"] == "abc-123"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])


# Each as vLLM 0.32.0 answered it (CPU build, a tiny Llama, default settings): status, and the
# body byte for byte but for the model names and numbers.
_STOP5_MESSAGE = (
    "2 validation errors:\n"
    "  {'type': 'string_type', 'loc': 'body.stop', 'msg': 'Input should be a valid string', "
    "'input': '<list of 5 items>'}\n"
    "  {'type': 'too_long', 'loc': 'body.stop', 'msg': 'List should have at most 4 items after "
    "validation, not 5', 'input': '<list of 5 items>', 'ctx': {'field_type': 'List', "
    "'max_length': 4, 'actual_length': 5}}"
)
_CHAT = [{"role": "user", "content": "x"}]


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        (
            "/v1/completions",
            {"model": "nope", "prompt": "x", "suffix": "y"},
            404,
            {
                "message": f"The model `nope` does not exist. Valid aliases: {_MODEL}.",
                "type": "NotFoundError",
                "param": "model",
            },
        ),
        (
            "/v1/completions",
            {"model": _MODEL, "prompt": "x", "suffix": "y"},
            400,
            {
                "message": "suffix is only supported for models with FIM completion rendering",
                "type": "BadRequestError",
                "param": "suffix",
            },
        ),
        (
            "/v1/chat/completions",
            {"model": _MODEL, "messages": _CHAT, "max_tokens": 0},
            400,
            {
                "message": "max_tokens must be at least 1, got 0. (parameter=max_tokens, value=0)",
                "type": "BadRequestError",
                "param": "max_tokens",
            },
        ),
        (
            "/v1/completions",
            {"model": _MODEL, "prompt": "x", "stop": ["a", "b", "c", "d", "e"]},
            400,
            {"message": _STOP5_MESSAGE, "type": "Bad Request", "param": "body.stop"},
        ),
        (
            "/v1/chat/completions",
            {"model": _MODEL, "messages": _CHAT, "stop": ["a", "b", "c", "d", "e"]},
            400,
            {"message": _STOP5_MESSAGE, "type": "Bad Request", "param": "body.stop"},
        ),
        (
            "/v1/chat/completions",
            {"model": _MODEL, "messages": _CHAT, "max_tokens": 32769},
            400,
            {
                "message": "max_tokens=32769 cannot be greater than max_model_len=32768. Please "
                "request fewer output tokens. (parameter=max_tokens, value=32769)",
                "type": "BadRequestError",
                "param": "max_tokens",
            },
        ),
        (
            "/v1/completions",
            {"model": _MODEL, "prompt": "a " * 32769, "max_tokens": 4},
            400,
            {
                "message": "This model's maximum context length is 32768 tokens. However, your "
                "prompt contains at least 32769 input tokens, which exceeds this limit even "
                "without any output tokens. Please reduce the length of the input prompt. "
                "(parameter=input_tokens, value=32769)",
                "type": "BadRequestError",
                "param": "input_tokens",
            },
        ),
        (
            "/v1/completions",
            {"model": _MODEL, "prompt": "x", "stream_options": {"include_usage": True}},
            400,
            {
                "message": "Stream options can only be defined when `stream=True`. "
                "(parameter=stream_options)",
                "type": "BadRequestError",
                "param": "stream_options",
            },
        ),
    ],
)
def test_refuses_what_vllm_refuses_with_its_body(
    http: httpx.Client, path: str, body: dict[str, object], status: int, error: dict[str, object]
) -> None:
    response = http.post(path, json=body)

    assert response.status_code == status
    assert response.json() == {"error": {**error, "code": status}}


def test_stop_limit_follows_vllm_max_stop_strings(
    http: httpx.Client, sim: BackgroundSimulator
) -> None:
    five = {"model": _MODEL, "prompt": "x", "stop": ["a", "b", "c", "d", "e"], "max_tokens": 2}
    sim.state.config = dataclasses.replace(sim.state.config, max_stop_strings=5)

    assert http.post("/v1/completions", json=five).status_code == 200


def test_answer_is_cut_at_the_end_of_the_context(
    http: httpx.Client, sim: BackgroundSimulator
) -> None:
    # vLLM 0.32.0 accepts prompt + max_tokens above the context, and stops at its end.
    sim.state.config = dataclasses.replace(sim.state.config, max_model_len=10, tokens=32)

    response = http.post(
        "/v1/completions", json={"model": _MODEL, "prompt": "a b c d", "max_tokens": 10}
    )

    assert response.status_code == 200
    assert response.json()["usage"]["completion_tokens"] == 6
    assert response.json()["choices"][0]["finish_reason"] == "length"


def test_models_advertise_max_model_len(http: httpx.Client, sim: BackgroundSimulator) -> None:
    sim.state.config = dataclasses.replace(sim.state.config, max_model_len=1024)

    (card,) = http.get("/v1/models").json()["data"]

    assert card["max_model_len"] == 1024


def test_chat_only_server_has_no_completions_route(
    http: httpx.Client, sim: BackgroundSimulator
) -> None:
    sim.state.config = dataclasses.replace(sim.state.config, chat_only=True)

    text = http.post("/v1/completions", json={"model": _MODEL, "prompt": "x"})
    chat = http.post("/v1/chat/completions", json={"model": _MODEL, "messages": _CHAT})

    assert (text.status_code, text.json()) == (404, {"detail": "Not Found"})
    assert chat.status_code == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": _MODEL, "prompt": "x", "frobnicate": 1}, "Extra inputs are not permitted"),
        ({"prompt": "x"}, "Field required"),
    ],
)
def test_validation_errors_are_400(
    http: httpx.Client, body: dict[str, object], fragment: str
) -> None:
    response = http.post("/v1/completions", json=body)

    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]


def test_flat_error_shape_of_old_vllm(http: httpx.Client, sim: BackgroundSimulator) -> None:
    sim.state.config = dataclasses.replace(sim.state.config, error_shape="flat")

    response = http.post("/v1/completions", json={"model": "nope", "prompt": "x"})

    assert response.json() == {
        "object": "error",
        "message": f"The model `nope` does not exist. Valid aliases: {_MODEL}.",
        "type": "NotFoundError",
        "param": "model",
        "code": 404,
    }


def test_api_key_is_required_on_v1_only(http: httpx.Client, sim: BackgroundSimulator) -> None:
    sim.state.config = dataclasses.replace(sim.state.config, api_key="sk-1")

    missing = http.get("/v1/models")
    wrong = http.get("/v1/models", headers={"Authorization": "Bearer sk-2"})
    right = http.get("/v1/models", headers={"Authorization": "Bearer sk-1"})

    assert (missing.status_code, missing.content) == (401, b'{"error":"Unauthorized"}')
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert http.get("/health").status_code == 200


def test_injected_failure_status(http: httpx.Client) -> None:
    dead = http.post(
        "/v1/completions",
        json={"model": _MODEL, "prompt": "x"},
        headers={"X-Simulator-Fail-Status": "500"},
    )
    busy = http.post(
        "/v1/completions",
        json={"model": _MODEL, "prompt": "x"},
        headers={"X-Simulator-Fail-Status": "429"},
    )

    assert (dead.status_code, dead.content) == (500, b"")
    assert busy.status_code == 429
    assert busy.json()["error"]["type"] == "RateLimitError"


def test_in_band_error_after_some_tokens(http: httpx.Client) -> None:
    response = http.post(
        "/v1/completions",
        json={"model": _MODEL, "prompt": "x", "stream": True},
        headers={"X-Simulator-Error-After-Tokens": "1"},
    )

    events = response.text.split("\n\n")
    assert response.status_code == 200
    assert json.loads(events[0].removeprefix("data: "))["choices"][0]["text"] == " tok0"
    assert events[1] == (
        'data: {"error": {"object": "error", "message": "simulated failure after 1 tokens", '
        '"type": "BadRequestError", "param": null, "code": 400}}'
    )
    assert events[2:] == ["data: [DONE]", ""]


def test_override_headers(http: httpx.Client) -> None:
    started = time.monotonic()
    response = http.post(
        "/v1/completions",
        json={"model": _MODEL, "prompt": "x", "max_tokens": 100},
        headers={
            "X-Simulator-Tokens": "5",
            "X-Simulator-Tokens-Per-Second": "100",
            "X-Simulator-First-Token-Delay": "0.1",
        },
    )
    elapsed = time.monotonic() - started

    assert response.json()["choices"][0]["text"] == simulated_text(5)
    assert 0.14 <= elapsed < 2.0  # 0.1 s to the first token, then 4 more at 100/s


def test_bad_override_header_is_400(http: httpx.Client) -> None:
    response = http.post(
        "/v1/completions",
        json={"model": _MODEL, "prompt": "x"},
        headers={"X-Simulator-Tokens": "many"},
    )

    assert response.status_code == 400
    assert "x-simulator-tokens" in response.json()["error"]["message"]


def test_requests_are_recorded_and_cleared(http: httpx.Client) -> None:
    body = {"model": _MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True}
    http.post(
        "/v1/chat/completions",
        json=body,
        headers={"X-Request-Id": "r-1", "Authorization": "Bearer whatever"},
    )
    http.post("/v1/completions", json={"model": "nope", "prompt": "x"})

    first, second = http.get("/_simulator/requests").json()

    assert first["path"] == "/v1/chat/completions"
    assert first["model"] == _MODEL
    assert first["stream"] is True
    assert first["request_id"] == "r-1"
    assert first["authorization_present"] is True
    assert first["body"] == body
    assert first["sent_text"] == simulated_text(3)
    assert first["completed"] is True
    assert first["disconnected"] is False
    assert first["started_at"] <= first["ended_at"]
    assert (second["status"], second["request_id"], second["authorization_present"]) == (
        404,
        None,
        False,
    )
    assert second["id"] > first["id"]

    assert http.delete("/_simulator/requests").status_code == 204
    assert http.get("/_simulator/requests").json() == []


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
def test_client_disconnect_is_recorded_promptly(
    http: httpx.Client, sim: BackgroundSimulator, stream: bool
) -> None:
    sim.state.config = dataclasses.replace(sim.state.config, tokens=500, tokens_per_second=50)
    body = {"model": _MODEL, "prompt": "x", "max_tokens": 500, "stream": stream}

    if stream:
        with http.stream("POST", "/v1/completions", json=body) as response:
            lines = response.iter_lines()
            assert next(lines).startswith("data: ")
    else:
        with pytest.raises(httpx.ReadTimeout):
            http.post("/v1/completions", json=body, timeout=httpx.Timeout(5, read=0.2))
    gone_at = time.time()

    record = _wait_until_ended(sim)
    assert record["disconnected"] is True
    assert record["completed"] is False
    assert record["ended_at"] - gone_at < 1.0
    if stream:
        assert 0 < len(record["sent_text"]) < len(simulated_text(500))
        assert simulated_text(500).startswith(record["sent_text"])
    sent = record["sent_text"]
    time.sleep(0.1)
    assert sim.state.recorder.snapshot()[-1]["sent_text"] == sent


def _wait_until_ended(sim: BackgroundSimulator) -> dict[str, Any]:
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        record = sim.state.recorder.snapshot()[-1]
        if record["ended_at"] is not None:
            return record
        time.sleep(0.01)
    raise AssertionError("the request never ended")
