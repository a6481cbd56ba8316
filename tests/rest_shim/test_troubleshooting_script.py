"""GitLab's troubleshooting script (reference §6) against aigw: trial auth bypass, custom models
on, the script's health probe and its exact model-check request."""

from __future__ import annotations

import pytest

from aigw_common.settings import AuthSettings, CustomModelsSettings, Settings
from aigw_simulator import simulated_text
from tests.rest_shim.conftest import Gateway


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "auth": AuthSettings(bypass_external=True),
            "custom_models": CustomModelsSettings(enabled=True),
        }
    )


def script_payload(model_endpoint: str, api_key: str | None) -> dict[str, object]:
    """check_suggestions_model_access's payload, for `--model-family mistral`."""
    return {
        "project_path": "string",
        "project_id": 0,
        "current_file": {
            "file_name": "test.py",
            "language_identifier": "python",
            "content_above_cursor": "def hello():\n  ",
            "content_below_cursor": "",
        },
        "model_provider": "litellm",
        "model_endpoint": model_endpoint,
        "model_api_key": api_key,
        "model_identifier": "custom_openai/aigw-simulator",
        "model_name": "mistral",
        "telemetry": [],
        "stream": False,
        "choices_count": 0,
        "context": [],
        "agent_id": "string",
        "prompt_id": "code_suggestions/generations",
        "prompt_version": 2,
        "prompt": "",
    }


async def test_the_scripts_checks_pass(gateway: Gateway) -> None:
    headers = {"accept": "application/json", "Content-Type": "application/json"}

    health = await gateway.http.get("/monitoring/healthz", headers={"accept": "application/json"})
    check = await gateway.http.post(
        "/v2/code/generations",
        json=script_payload(gateway.stack.simulator.endpoint, None),
        headers=headers,
    )

    assert health.status_code == 200
    assert check.status_code == 200, check.text
    # The script's cursor line ("  ") is not empty: the generation starts on the next line.
    assert check.json()["choices"] == [
        {"text": "\n" + simulated_text(6), "index": 0, "finish_reason": "length"}
    ]
    [record] = gateway.records()
    assert record["path"] == "/v1/chat/completions"
    assert record["model"] == "aigw-simulator"


async def test_a_model_that_is_not_running_fails_the_scripts_check(gateway: Gateway) -> None:
    check = await gateway.http.post(
        "/v2/code/generations", json=script_payload("http://127.0.0.1:9/v1", "sk-1")
    )

    assert check.status_code == 503
    assert check.json() == {"detail": "Inference failed"}
