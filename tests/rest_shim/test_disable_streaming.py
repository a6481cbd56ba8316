"""AIGW_CUSTOM_MODELS__DISABLE_STREAMING: the model is asked for its whole answer at once, and
each route still answers in its own streaming format."""

from __future__ import annotations

import json

import pytest

from aigw_common.settings import CustomModelsSettings, Settings
from aigw_simulator import simulated_text
from tests.rest_shim.conftest import Gateway


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"custom_models": CustomModelsSettings(disable_streaming=True)}
    )


@pytest.fixture
async def configured(gateway: Gateway) -> Gateway:
    await gateway.stack.add_model("codestral", gateway.stack.simulator.endpoint)
    await gateway.stack.assign("code_completions", "codestral")
    return gateway


async def test_a_plain_text_stream_from_one_unary_model_call(configured: Gateway) -> None:
    body = {
        "current_file": {
            "file_name": "a.py",
            "content_above_cursor": "x = ",
            "content_below_cursor": "",
        },
        "stream": True,
    }

    response = await configured.http.post(
        "/v2/code/completions", json=body, headers=configured.headers("complete_code")
    )

    assert response.text == simulated_text(6)
    [record] = configured.records()
    assert record["stream"] is False


async def test_an_openai_stream_from_one_unary_model_call(configured: Gateway) -> None:
    body = {
        "model": "feature:code_completions",
        "prompt": "x = ",
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    response = await configured.http.post(
        "/v1/completions", json=body, headers=configured.headers("complete_code")
    )

    events = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == simulated_text(6)
    assert chunks[-1]["usage"]["completion_tokens"] == 6
    [record] = configured.records()
    assert record["stream"] is False
