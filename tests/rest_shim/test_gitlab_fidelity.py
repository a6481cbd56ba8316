"""What the model server receives, and what GitLab's clients get back, for GitLab's own request
shapes (reference §1.2, §1.4): the same as GitLab's gateway sends and answers."""

from __future__ import annotations

from typing import Any

import pytest

from aigw_common.settings import CustomModelsSettings, Settings
from aigw_simulator import SimulatorConfig, simulated_text
from rest_shim.routes.chat_invokables import FEATURES
from tests.rest_shim.conftest import Gateway
from tests.rest_shim.test_gitlab_replay import (
    CURRENT_FILE,
    MODEL_KEY,
    TOKENS,
    rails_chat,
    rails_generation,
)

ANSWER = simulated_text(TOKENS)
# GitLab's chat model defaults for prompts Rails prepared, and its per-family stop tokens.
PREPARED = {"max_tokens": 2048, "temperature": 0.2, "top_p": 0.95}
FAMILY_STOP = {"mistral": ["</new_code>"], "codestral": None, "mixtral": None, "gpt": None}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"custom_models": CustomModelsSettings(enabled=True)})


@pytest.fixture
def self_hosted(gateway: Gateway) -> Gateway:
    gateway.stack.simulator.state.config = SimulatorConfig(tokens=TOKENS, api_key=MODEL_KEY)
    return gateway


def _sampling(body: dict[str, Any]) -> dict[str, Any]:
    return {name: body.get(name) for name in ("max_tokens", "temperature", "top_p", "stop")}


def prepared_generation(gateway: Gateway, family: str, version: int) -> dict[str, Any]:
    """Rails' generation with a prompt it prepared: a string (v2) or messages (v3)."""
    body = rails_generation(gateway, stream=False)
    del body["prompt_id"]
    body["model_name"] = family
    body["prompt_version"] = version
    body["prompt"] = (
        "<s>[INST] Write fib [/INST]"
        if version == 2
        else [{"role": "user", "content": "Write fib"}]
    )
    return body


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("family", sorted(FAMILY_STOP))
async def test_prepared_generation_prompts_get_gitlabs_parameters(
    self_hosted: Gateway, family: str, version: int
) -> None:
    response = await self_hosted.http.post(
        "/v2/code/generations",
        json=prepared_generation(self_hosted, family, version),
        headers=self_hosted.headers("generate_code"),
    )

    assert response.status_code == 200, response.text
    [record] = self_hosted.records()
    assert _sampling(record["body"]) == {**PREPARED, "stop": FAMILY_STOP[family]}


@pytest.mark.parametrize("invokable", sorted(FEATURES))
@pytest.mark.parametrize("family", ["mistral", "mixtral"])
async def test_chat_invokables_get_gitlabs_parameters(
    self_hosted: Gateway, invokable: str, family: str
) -> None:
    body = rails_chat(self_hosted, stream=False)
    body["prompt_components"][0]["payload"]["model"] = family
    scope = (
        "duo_chat"
        if FEATURES[invokable]
        in (
            "duo_chat",
            "duo_chat_explain_code",
            "duo_chat_write_tests",
            "duo_chat_refactor_code",
        )
        else invokable
    )
    headers = self_hosted.headers("duo_chat", "explain_code", "write_tests", "refactor_code", scope)

    response = await self_hosted.http.post(f"/v1/chat/{invokable}", json=body, headers=headers)

    assert response.status_code == 200, response.text
    [record] = self_hosted.records()
    assert _sampling(record["body"]) == {**PREPARED, "stop": FAMILY_STOP[family]}


async def test_a_generation_below_a_line_with_text_starts_on_the_next_line(
    self_hosted: Gateway,
) -> None:
    body = rails_generation(self_hosted, stream=False)
    assert not body["current_file"]["content_above_cursor"].endswith("\n")

    response = await self_hosted.http.post(
        "/v2/code/generations", json=body, headers=self_hosted.headers("generate_code")
    )

    assert response.status_code == 200
    assert response.json()["choices"][0]["text"] == "\n" + ANSWER


async def test_a_generation_on_an_empty_line_is_not_shifted(self_hosted: Gateway) -> None:
    body = rails_generation(self_hosted, stream=False)
    body["current_file"] = {**CURRENT_FILE, "content_above_cursor": "# fibonacci\n"}

    response = await self_hosted.http.post(
        "/v2/code/generations", json=body, headers=self_hosted.headers("generate_code")
    )

    assert response.json()["choices"][0]["text"] == ANSWER


async def test_token_metadata_has_gitlabs_fields(self_hosted: Gateway) -> None:
    body = rails_generation(self_hosted, stream=False)
    body["context"] = [{"type": "file", "name": "a.py", "content": "x = 1\n" * 10}]

    response = await self_hosted.http.post(
        "/v2/code/generations", json=body, headers=self_hosted.headers("generate_code")
    )

    metadata = response.json()["model"]["tokens_consumption_metadata"]
    assert metadata["output_tokens"] == TOKENS
    # The simulator stops at its token count, not at max_tokens.
    assert metadata["max_output_tokens_used"] is False
    assert metadata["context_tokens_sent"] == 20  # 60 characters
    assert metadata["context_tokens_used"] == 0


async def test_an_empty_answer_has_null_token_metadata(self_hosted: Gateway) -> None:
    self_hosted.stack.simulator.state.config = SimulatorConfig(tokens=0, api_key=MODEL_KEY)

    response = await self_hosted.http.post(
        "/v2/code/generations",
        json=rails_generation(self_hosted, stream=False),
        headers=self_hosted.headers("generate_code"),
    )

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["choices"] == []
    assert answer["model"]["tokens_consumption_metadata"] is None


GITLAB_ROUTES = [
    "/v2/code/completions",
    "/v2/completions",
    "/v2/code/generations",
    "/v1/chat/agent",
    "/v1/chat/explain_code",
    "/v1/prompts/model_configuration%2Fcheck",
    "/v2/chat/agent",
    "/v3/code/completions",
    "/v4/code/suggestions",
]
OPENAI_ROUTES = ["/v1/chat/completions", "/v1/completions"]
SECRET = "sk-leaked-if-echoed-0123456789"


@pytest.mark.parametrize("route", GITLAB_ROUTES)
async def test_validation_errors_are_fastapis_list_without_the_input(
    self_hosted: Gateway, route: str
) -> None:
    body = {
        "model_api_key": SECRET,
        "current_file": SECRET,
        "prompt_components": SECRET,
        "messages": SECRET,
        "inputs": SECRET,
        "model_metadata": SECRET,
        "prompt_version": SECRET,
    }

    response = await self_hosted.http.post(
        route, json=body, headers=self_hosted.headers("complete_code")
    )

    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert problems
    assert all(set(problem) == {"type", "loc", "msg"} for problem in problems)
    assert problems[0]["loc"][0] == "body"
    assert SECRET not in response.text
    assert self_hosted.records() == []


async def test_an_unknown_family_on_chat_agent_is_422(self_hosted: Gateway) -> None:
    body = rails_chat(self_hosted, stream=False)
    body["prompt_components"][0]["payload"]["model"] = "gpt-neo"

    response = await self_hosted.http.post(
        "/v1/chat/agent", json=body, headers=self_hosted.headers("duo_chat")
    )

    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "prompt_components", 0, "payload", "model"]
    assert "gpt-neo" in problem["msg"]
    assert MODEL_KEY not in response.text
    assert self_hosted.records() == []


@pytest.mark.parametrize("size", [20_000, 10_000_000])
@pytest.mark.parametrize("route", [*GITLAB_ROUTES, "/v1/code/user_access_token"])
async def test_an_oversized_token_is_401_on_every_gitlab_route(
    self_hosted: Gateway, route: str, size: int
) -> None:
    headers = {**self_hosted.headers(), "Authorization": "Bearer " + "a" * size}

    response = await self_hosted.http.post(route, json={}, headers=headers)

    assert response.status_code == 401
    assert response.json() == {"error": "token too large (the limit is 8192 bytes)"}


@pytest.mark.parametrize("size", [20_000, 10_000_000])
@pytest.mark.parametrize("route", OPENAI_ROUTES)
async def test_an_oversized_token_is_401_on_the_openai_routes(
    self_hosted: Gateway, route: str, size: int
) -> None:
    headers = {"Authorization": "Bearer " + "a" * size}

    response = await self_hosted.http.post(route, json={}, headers=headers)

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["message"] == "token too large (the limit is 8192 bytes)"
    assert error["code"] == "invalid_api_key"


async def test_a_token_just_within_the_limit_reaches_the_verifier(self_hosted: Gateway) -> None:
    headers = {**self_hosted.headers(), "Authorization": "Bearer " + "a" * 8192}

    response = await self_hosted.http.post(
        "/v2/code/completions", json=rails_generation(self_hosted, stream=False), headers=headers
    )

    assert response.status_code == 401
    assert response.json() == {"error": "token is malformed"}  # the verifier, not the size check


async def test_grpcs_own_errors_never_reach_a_caller(self_hosted: Gateway) -> None:
    # Headers far beyond the router's metadata limit (past its hard limit: between the soft
    # and the hard one gRPC refuses at random): gRPC refuses them itself.
    headers = {**self_hosted.headers("generate_code"), "X-Gitlab-Version": "1" * 100_000}

    response = await self_hosted.http.post(
        "/v2/code/generations", json=rails_generation(self_hosted, stream=False), headers=headers
    )

    # gRPC's own RESOURCE_EXHAUSTED is no rate limit of the caller's (issue 14): never a 429.
    assert response.status_code == 503
    assert response.json() == {"detail": "Inference failed"}
