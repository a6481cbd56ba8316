"""The simulator's Azure OpenAI, Bedrock and Anthropic wire formats, byte-level where it
matters (the event-stream framing) and through the clients that must parse them."""

from __future__ import annotations

import dataclasses
import json

import httpx
from botocore.eventstream import EventStreamBuffer

from aigw_simulator import BackgroundSimulator
from aigw_simulator.eventstream import event, exception, frame

# providers.md §3.5: messageStop {"stopReason":"end_turn"}, 122 bytes, checked with boto3.
_TEST_VECTOR = bytes.fromhex(
    "0000007a00000051ca2c46650b3a6576656e742d7479706507000b6d65737361676553746f700d3a636f6e74"
    "656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d74797065070005"
    "6576656e747b2273746f70526561736f6e223a22656e645f7475726e227d5fbf09fc"
)


def test_event_stream_frame_matches_the_reference_vector() -> None:
    headers = {
        ":event-type": "messageStop",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert frame(headers, b'{"stopReason":"end_turn"}') == _TEST_VECTOR


def test_botocore_decodes_events_and_exceptions_split_anywhere() -> None:
    stream = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "hi"}})
    stream += exception("throttlingException", "slow down")
    buffer = EventStreamBuffer()
    for index in range(0, len(stream), 7):  # botocore must reassemble arbitrary pieces
        buffer.add_data(stream[index : index + 7])
    first, second = list(buffer)

    assert first.headers[":event-type"] == "contentBlockDelta"
    assert json.loads(first.payload) == {"contentBlockIndex": 0, "delta": {"text": "hi"}}
    assert second.headers[":message-type"] == "exception"
    assert second.headers[":exception-type"] == "throttlingException"


def _use(sim: BackgroundSimulator, **changes: object) -> None:
    sim.state.config = dataclasses.replace(sim.state.config, **changes)  # type: ignore[arg-type]


def test_azure_needs_api_version_and_a_known_deployment(
    http: httpx.Client, sim: BackgroundSimulator
) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}]}
    deployment = f"/openai/deployments/{sim.state.config.model}/chat/completions"

    missing_version = http.post(deployment, json=body)
    unknown = http.post(
        "/openai/deployments/nope/chat/completions?api-version=2024-10-21", json=body
    )
    vllm_field = http.post(f"{deployment}?api-version=2024-10-21", json={**body, "top_k": 5})

    assert missing_version.status_code == 404
    assert unknown.json()["error"]["code"] == "DeploymentNotFound"
    assert vllm_field.status_code == 400
    assert "Unrecognized request argument supplied: top_k" in vllm_field.text


def test_azure_429_carries_retry_after_in_seconds_and_ms(
    http: httpx.Client, sim: BackgroundSimulator
) -> None:
    _use(sim, fail_status=429, retry_after_s=1.5, fail_count=1)
    url = "/openai/v1/chat/completions"
    body = {"model": sim.state.config.model, "messages": [{"role": "user", "content": "hi"}]}

    throttled = http.post(url, json=body)
    then = http.post(url, json=body)

    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "2"
    assert throttled.headers["retry-after-ms"] == "1500"
    assert throttled.json()["error"]["code"] == "429"
    assert then.status_code == 200


def test_azure_stream_opens_with_prompt_filter_results(
    http: httpx.Client, sim: BackgroundSimulator
) -> None:
    url = f"/openai/deployments/{sim.state.config.model}/chat/completions?api-version=2024-10-21"
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": True}

    text = http.post(url, json=body).text

    events = [json.loads(line[6:]) for line in text.split("\n\n") if line.startswith("data: {")]
    assert events[0]["choices"] == []
    assert "prompt_filter_results" in events[0]
    assert all("content_filter_results" in e["choices"][0] for e in events[1:])
    assert text.endswith("data: [DONE]\n\n")


def test_anthropic_wants_its_version_header_and_no_system_role(http: httpx.Client) -> None:
    user = {"role": "user", "content": "hi"}
    body = {"model": "aigw-simulator", "max_tokens": 5, "messages": [user]}
    with_system = {**body, "messages": [{"role": "system", "content": "x"}, user]}
    version = {"anthropic-version": "2023-06-01"}

    no_version = http.post("/v1/messages", json=body)
    system_role = http.post("/v1/messages", json=with_system, headers=version)
    fine = http.post("/v1/messages", json=body, headers=version)

    assert no_version.status_code == 400
    assert no_version.json()["error"]["type"] == "invalid_request_error"
    assert "top-level `system` parameter" in system_role.json()["error"]["message"]
    assert fine.json()["content"] == [{"type": "text", "text": " tok0 tok1 tok2"}]
    assert fine.json()["stop_reason"] == "end_turn"


def test_anthropic_529_is_overloaded(http: httpx.Client, sim: BackgroundSimulator) -> None:
    _use(sim, fail_status=529)
    body = {
        "model": "aigw-simulator",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    }

    response = http.post("/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"})

    assert response.status_code == 529
    assert response.json() == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


def test_bedrock_errors_carry_the_aws_error_type(
    http: httpx.Client, sim: BackgroundSimulator
) -> None:
    _use(sim, fail_status=429)
    body = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}

    response = http.post(f"/model/{sim.state.config.model}/converse", json=body)

    assert response.status_code == 429
    assert response.headers["x-amzn-errortype"].startswith("ThrottlingException:")
    assert response.json() == {"message": "Too many requests, please wait before trying again."}
