"""GitLab's own requests, replayed byte for byte against the shim in front of the real router,
config_svc, model_proxy_svc and the simulator (reference §1.2, §1.4, §1.6): the exact answers,
streamed and not, with the self-hosted model the request describes and with the feature's
configured model when it describes none."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
from structlog.testing import capture_logs

from aigw_common.settings import CustomModelsSettings, Settings
from aigw_prompts import prepare_check
from aigw_simulator import SimulatorConfig, simulated_text
from aigw_simulator.plan import count_prompt_tokens
from tests.rest_shim.conftest import Gateway

TOKENS = 6
ANSWER = simulated_text(TOKENS)
MODEL_KEY = "sk-self-hosted-model-key-42"
CURRENT_FILE = {
    "file_name": "fib.py",
    "language_identifier": "python",
    "content_above_cursor": "def fib(n):\n    ",
    "content_below_cursor": "\n\nprint(fib(10))\n",
}


def _coordinates(gateway: Gateway, family: str) -> dict[str, Any]:
    return {
        "model_provider": "litellm",
        "model_name": family,
        "model_endpoint": gateway.stack.simulator.endpoint,
        "model_api_key": MODEL_KEY,
        "model_identifier": "custom_openai/aigw-simulator",
    }


def rails_completion(gateway: Gateway, *, stream: bool) -> dict[str, Any]:
    """Rails' self-hosted code completion (§1.2), around the IDE's forwarded fields."""
    return {
        "current_file": CURRENT_FILE,
        "telemetry": [
            {"model_engine": "litellm", "lang": "python", "requests": 1, "accepts": 0, "errors": 0}
        ],
        "stream": stream,
        "context": [
            {"type": "file", "name": "util.py", "content": "def add(a, b):\n    return a + b\n"}
        ],
        "prompt_version": 2,
        "prompt": None,
        **_coordinates(gateway, "codestral"),
    }


def rails_generation(gateway: Gateway, *, stream: bool) -> dict[str, Any]:
    """Rails' self-hosted code generation (§1.2)."""
    return {
        "current_file": CURRENT_FILE,
        "telemetry": [],
        "stream": stream,
        "prompt_version": 2,
        "prompt_id": "code_suggestions/generations",
        "prompt": "",
        **_coordinates(gateway, "mistral"),
    }


def rails_chat(gateway: Gateway, *, stream: bool) -> dict[str, Any]:
    """Rails' /v1/chat/agent request for a self-hosted chat model (§1.4)."""
    return {
        "prompt_components": [
            {
                "type": "prompt",
                "metadata": {"source": "GitLab EE", "version": "17.6.0"},
                "payload": {
                    "content": [{"role": "user", "content": "Explain what fib does."}],
                    "provider": "litellm",
                    "model": "mistral",
                    "model_endpoint": gateway.stack.simulator.endpoint,
                    "model_api_key": MODEL_KEY,
                    "model_identifier": "custom_openai/aigw-simulator",
                },
            }
        ],
        "stream": stream,
    }


def rails_connection_check(gateway: Gateway) -> dict[str, Any]:
    """Rails' "Test connection" for a self-hosted model (§1.6)."""
    return {
        "stream": False,
        "inputs": {},
        "model_metadata": {
            "name": "mistral",
            "endpoint": gateway.stack.simulator.endpoint,
            "api_key": MODEL_KEY,
            "provider": "openai",
            "identifier": "custom_openai/aigw-simulator",
        },
    }


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"custom_models": CustomModelsSettings(enabled=True)})


@pytest.fixture
def self_hosted(gateway: Gateway) -> Gateway:
    """The simulator stands in for the customer's model server, which needs its API key."""
    gateway.stack.simulator.state.config = SimulatorConfig(tokens=TOKENS, api_key=MODEL_KEY)
    return gateway


def _suggestions(record: dict[str, Any], created: int, body: dict[str, Any]) -> dict[str, Any]:
    text = ANSWER if "prompt_id" not in body else "\n" + ANSWER
    return {
        "id": "id",
        "object": "text_completion",
        "created": created,
        "model": {
            "engine": "openai_compatible",
            "name": "aigw-simulator",
            "lang": "python",
            "tokens_consumption_metadata": {
                "input_tokens": count_prompt_tokens(record["body"]),
                "output_tokens": TOKENS,
                "max_output_tokens_used": False,
                # The IDE's context file (32 characters, ~11 tokens) is counted, not used.
                "context_tokens_sent": 11 if body.get("context") else 0,
                "context_tokens_used": 0,
            },
        },
        "experiments": [],
        # A generation below a line with text starts on the next line, as GitLab's.
        "choices": [{"text": text, "index": 0, "finish_reason": "length"}],
    }


@pytest.mark.parametrize(
    ("route", "body", "scope"),
    [
        ("/v2/code/completions", rails_completion, "complete_code"),
        ("/v2/completions", rails_completion, "complete_code"),
        ("/v2/code/generations", rails_generation, "generate_code"),
    ],
)
async def test_rails_code_suggestions_with_a_self_hosted_model(
    self_hosted: Gateway, route: str, body: Any, scope: str
) -> None:
    request = body(self_hosted, stream=False)
    response = await self_hosted.http.post(route, json=request, headers=self_hosted.headers(scope))

    assert response.status_code == 200, response.text
    answer = response.json()
    [record] = self_hosted.records()
    assert abs(answer["created"] - time.time()) < 60
    assert answer == _suggestions(record, answer["created"], request)
    assert response.headers["X-Request-ID"] == "01JD2ZQ3V4K6G0Y4M7X2T9N8P5"
    assert record["request_id"] == "01JD2ZQ3V4K6G0Y4M7X2T9N8P5"
    assert record["model"] == "aigw-simulator"


@pytest.mark.parametrize(
    ("route", "body", "scope"),
    [
        ("/v2/code/completions", rails_completion, "complete_code"),
        ("/v2/code/generations", rails_generation, "generate_code"),
        ("/v1/chat/agent", rails_chat, "duo_chat"),
    ],
)
async def test_rails_streams_are_the_models_text_as_plain_chunks(
    self_hosted: Gateway, route: str, body: Any, scope: str
) -> None:
    async with self_hosted.http.stream(
        "POST", route, json=body(self_hosted, stream=True), headers=self_hosted.headers(scope)
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        pieces = [piece async for piece in response.aiter_raw()]

    assert b"".join(pieces).decode() == ANSWER
    [record] = self_hosted.records()
    assert record["stream"] is True
    assert record["completed"]


async def test_rails_chat_with_a_self_hosted_model(self_hosted: Gateway) -> None:
    response = await self_hosted.http.post(
        "/v1/chat/agent",
        json=rails_chat(self_hosted, stream=False),
        headers=self_hosted.headers("duo_chat"),
    )

    assert response.status_code == 200
    answer = response.json()
    assert abs(answer["metadata"]["timestamp"] - time.time()) < 60
    assert answer == {
        "response": ANSWER,
        "metadata": {
            "provider": "litellm",
            "model": "mistral",
            "timestamp": answer["metadata"]["timestamp"],
        },
    }
    [record] = self_hosted.records()
    assert record["path"] == "/v1/chat/completions"
    assert record["body"]["messages"] == [{"role": "user", "content": "Explain what fib does."}]


async def test_rails_test_connection(self_hosted: Gateway) -> None:
    response = await self_hosted.http.post(
        "/v1/prompts/model_configuration%2Fcheck",
        json=rails_connection_check(self_hosted),
        headers=self_hosted.headers("complete_code"),
    )

    assert response.status_code == 200
    assert response.json() == ANSWER
    [record] = self_hosted.records()
    # The registry's check prompt for the family named in model_metadata.
    assert record["body"]["max_tokens"] == prepare_check("mistral").generation.parameters.max_tokens


async def test_a_wrong_model_key_fails_the_connection_test_as_gitlab_does(
    self_hosted: Gateway,
) -> None:
    body = rails_connection_check(self_hosted)
    body["model_metadata"]["api_key"] = "sk-wrong-key-123"

    response = await self_hosted.http.post(
        "/v1/prompts/model_configuration%2Fcheck",
        json=body,
        headers=self_hosted.headers("complete_code"),
    )

    # 421 means "the model failed, not the gateway".
    assert response.status_code == 421
    assert response.json() == {"detail": "401: Unauthorized"}
    assert "sk-wrong-key-123" not in response.text


async def test_without_coordinates_the_features_configured_model_answers(
    gateway: Gateway,
) -> None:
    await gateway.stack.add_model("codestral", gateway.stack.simulator.endpoint)
    await gateway.stack.assign("code_completions", "codestral")
    body = rails_completion(gateway, stream=False)
    for field in ("model_endpoint", "model_api_key", "model_identifier"):
        del body[field]

    response = await gateway.http.post(
        "/v2/code/completions", json=body, headers=gateway.headers("complete_code")
    )

    assert response.status_code == 200
    assert response.json()["model"]["name"] == "codestral"
    assert response.json()["choices"][0]["text"] == ANSWER


async def test_a_token_without_the_scope_gets_gitlabs_403(self_hosted: Gateway) -> None:
    response = await self_hosted.http.post(
        "/v2/code/generations",
        json=rails_generation(self_hosted, stream=False),
        headers=self_hosted.headers("complete_code"),
    )

    assert response.status_code == 403
    assert response.json() == {"detail": "Unauthorized to access code generations"}
    assert self_hosted.records() == []


async def test_a_missing_token_gets_gitlabs_401(self_hosted: Gateway) -> None:
    response = await self_hosted.http.post(
        "/v2/code/completions", json=rails_completion(self_hosted, stream=True)
    )

    assert response.status_code == 401
    assert set(response.json()) == {"error"}
    assert self_hosted.records() == []


async def test_an_unreachable_model_is_inference_failed(self_hosted: Gateway) -> None:
    body = copy.deepcopy(rails_completion(self_hosted, stream=False))
    body["model_endpoint"] = "http://127.0.0.1:9/v1"

    response = await self_hosted.http.post(
        "/v2/code/completions", json=body, headers=self_hosted.headers("complete_code")
    )

    assert response.status_code == 503
    assert response.json() == {"detail": "Inference failed"}


async def test_the_request_model_key_is_in_no_log_line_or_answer(self_hosted: Gateway) -> None:
    good = rails_completion(self_hosted, stream=True)
    bad = rails_chat(self_hosted, stream=False)
    bad["prompt_components"][0]["payload"]["model_api_key"] = f"{MODEL_KEY}-wrong"

    with capture_logs() as logs:
        streamed = await self_hosted.http.post(
            "/v2/code/completions", json=good, headers=self_hosted.headers("complete_code")
        )
        refused = await self_hosted.http.post(
            "/v1/chat/agent", json=bad, headers=self_hosted.headers("duo_chat")
        )

    assert streamed.status_code == 200
    assert refused.status_code == 503
    assert logs, "nothing was logged: the scan would prove nothing"
    for text in (repr(logs), streamed.text, refused.text, str(refused.headers)):
        assert MODEL_KEY not in text
