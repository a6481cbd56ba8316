from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.settings import CustomModelsSettings, Settings
from rest_shim.app import build_app
from rest_shim.model_coordinates import API_KEY_DISABLED, ENDPOINT_DISABLED, IDENTIFIER_DISABLED
from rest_shim.routes.code_completions import FEATURE
from tests.rest_shim.conftest import AUTH_HEADERS, RunningRouter, completion_body


async def test_non_stream_answer_has_gitlabs_exact_shape(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    response = await client.post(
        "/v2/code/completions", json=completion_body(), headers=AUTH_HEADERS
    )

    assert response.status_code == 200
    body = response.json()
    created = body.pop("created")
    assert isinstance(created, int)
    assert abs(created - time.time()) < 60
    assert body == {
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
        "choices": [{"text": "    return a + b\n", "index": 0, "finish_reason": "length"}],
    }


async def test_router_receives_the_code_context(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    body = completion_body()
    body["current_file"]["file_name"] = "  src/add.py \n"

    await client.post("/v2/code/completions", json=body, headers=AUTH_HEADERS)

    [completion] = router.servicer.completions
    assert completion.feature == FEATURE
    assert completion.WhichOneof("input") == "code"
    assert completion.code.file_name == "src/add.py"
    assert completion.code.language == "python"
    assert completion.code.content_above_cursor == "def add(a, b):\n"
    assert completion.code.content_below_cursor == "\n"


async def test_language_identifier_overrides_the_extension(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    body = completion_body()
    body["current_file"].update(file_name="notes.txt", language_identifier="rust")

    response = await client.post("/v2/code/completions", json=body, headers=AUTH_HEADERS)

    assert response.json()["model"]["lang"] == "rust"
    assert router.servicer.completions[0].code.language == "rust"


async def test_empty_answer_means_no_choices(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    router.servicer.text = ""

    response = await client.post(
        "/v2/code/completions", json=completion_body(), headers=AUTH_HEADERS
    )

    assert response.status_code == 200
    assert response.json()["choices"] == []


async def test_legacy_alias_serves_the_same_route(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    response = await client.post("/v2/completions", json=completion_body(), headers=AUTH_HEADERS)

    assert response.status_code == 200
    assert response.json()["choices"][0]["text"] == router.servicer.text


async def test_stream_is_bare_text_that_concatenates_to_the_answer(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    response = await client.post(
        "/v2/code/completions", json=completion_body(stream=True), headers=AUTH_HEADERS
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text == "".join(router.servicer.chunks)


async def test_authorization_and_gitlab_headers_are_forwarded_as_metadata(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    headers = [
        *((name.encode(), value.encode()) for name, value in AUTH_HEADERS.items()),
        (b"Cookie", b"session=abc"),
        (b"X-Gitlab-Bad", "caf\u00e9".encode("latin-1")),
    ]

    await client.post("/v2/code/completions", json=completion_body(), headers=headers)

    [metadata] = router.servicer.metadata
    assert metadata["authorization"] == "Bearer test-token"
    assert metadata["x-gitlab-authentication-type"] == "oidc"
    assert metadata["x-gitlab-realm"] == "self-managed"
    assert metadata["x-gitlab-instance-id"] == "instance-1"
    assert "cookie" not in metadata
    # gRPC metadata is ASCII; a header it cannot carry is dropped, not fatal.
    assert "x-gitlab-bad" not in metadata


async def test_unknown_fields_are_accepted(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    body = completion_body(
        prompt_version=2,
        prompt=None,
        model_provider="litellm",
        model_name="codestral",
        telemetry=[{"model_engine": "x", "requests": 1, "accepts": 0, "errors": 0, "new": 1}],
        context=[{"type": "file", "name": "b.py", "content": "x = 1"}],
        something_new={"nested": True},
    )
    body["current_file"]["cursor_offset"] = 12

    response = await client.post("/v2/code/completions", json=body, headers=AUTH_HEADERS)

    assert response.status_code == 200


_DROP = object()


@pytest.mark.parametrize(
    ("changes", "file_changes", "field"),
    [
        ({}, {"content_above_cursor": _DROP}, "current_file.content_above_cursor"),
        ({}, {"file_name": "x" * 256}, "current_file.file_name"),
        ({}, {"content_below_cursor": "x" * 100_001}, "current_file.content_below_cursor"),
        ({"current_file": _DROP}, {}, "current_file"),
        ({"model_name": "m" * 51}, {}, "model_name"),
        ({"telemetry": [{}] * 11}, {}, "telemetry"),
        ({"prompt_version": 4}, {}, "prompt_version"),
        ({"context": [{"type": "file", "name": "a"}]}, {}, "context[0].content"),
    ],
)
async def test_invalid_body_is_422_naming_the_field(
    client: httpx.AsyncClient,
    router: RunningRouter,
    changes: dict[str, Any],
    file_changes: dict[str, Any],
    field: str,
) -> None:
    body = completion_body()
    for target, updates in ((body["current_file"], file_changes), (body, changes)):
        for key, value in updates.items():
            if value is _DROP:
                del target[key]
            else:
                target[key] = value

    response = await client.post("/v2/code/completions", json=body, headers=AUTH_HEADERS)

    assert response.status_code == 422
    # FastAPI's list, as GitLab's gateway answers, without the request's values.
    [problem, *_] = response.json()["detail"]
    assert set(problem) == {"type", "loc", "msg"}
    assert problem["loc"][0] == "body"
    assert _path(problem["loc"][1:]) == field
    assert router.servicer.completions == []


def _path(location: list[str | int]) -> str:
    return "".join(f"[{item}]" if isinstance(item, int) else f".{item}" for item in location)[1:]


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v2/code/completions",
        content=b"{not json",
        headers={**AUTH_HEADERS, "Content-Type": "application/json"},
    )

    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["type"] == "json_invalid"
    assert problem["msg"] == "JSON decode error"


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("model_endpoint", ENDPOINT_DISABLED),
        ("model_api_key", API_KEY_DISABLED),
        ("model_identifier", IDENTIFIER_DISABLED),
    ],
)
async def test_model_coordinates_are_refused_when_custom_models_are_disabled(
    client: httpx.AsyncClient, router: RunningRouter, field: str, message: str
) -> None:
    body = completion_body(model_provider="litellm", model_name="codestral")
    body[field] = "sk-very-secret-value"

    response = await client.post("/v2/code/completions", json=body, headers=AUTH_HEADERS)

    assert response.status_code == 400
    assert response.json() == {"detail": message}
    assert "sk-very-secret-value" not in response.text
    assert router.servicer.completions == []


async def test_model_coordinates_reach_the_router_when_enabled(
    settings: Settings, router_channel: object, router: RunningRouter
) -> None:
    enabled = settings.model_copy(update={"custom_models": CustomModelsSettings(enabled=True)})
    app = build_app(enabled, router_channel)  # type: ignore[arg-type]
    body = completion_body(
        model_provider="litellm",
        model_name="mistral",
        model_endpoint="http://vllm:8000/v1/",
        model_api_key="sk-very-secret-value",
        model_identifier="custom_openai/Mistral-7B",
    )

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://shim"
    ) as http:
        response = await http.post("/v2/code/completions", json=body, headers=AUTH_HEADERS)

    assert response.status_code == 200
    [completion] = router.servicer.completions
    assert completion.custom_model == router_service_pb2.CustomModel(
        family="mistral",
        platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE,
        endpoint="http://vllm:8000/v1",
        identifier="Mistral-7B",
        api_key="sk-very-secret-value",
    )


async def test_an_endpoint_with_credentials_is_refused_naming_the_callers_field(
    settings: Settings, router_channel: object, router: RunningRouter
) -> None:
    # Before the shared rules the shim and the router passed it on (only stored models
    # refused credentials in an endpoint).
    enabled = settings.model_copy(update={"custom_models": CustomModelsSettings(enabled=True)})
    app = build_app(enabled, router_channel)  # type: ignore[arg-type]
    body = completion_body(
        model_provider="litellm",
        model_name="mistral",
        model_endpoint="http://user:hunter2@vllm:8000/v1",
        model_identifier="custom_openai/Mistral-7B",
    )

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://shim"
    ) as http:
        response = await http.post("/v2/code/completions", json=body, headers=AUTH_HEADERS)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("model_endpoint must not contain credentials")
    assert "hunter2" not in response.text
    assert router.servicer.completions == []


async def test_a_family_outside_the_providers_set_is_422(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    body = completion_body(model_provider="litellm", model_name="gpt-neo")

    response = await client.post("/v2/code/completions", json=body, headers=AUTH_HEADERS)

    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "model_name"]
    assert problem["msg"].startswith("Value error, model 'gpt-neo'")
