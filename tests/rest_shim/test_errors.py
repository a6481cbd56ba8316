from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from aigw_common import errors
from aigw_common.channels import open_channel
from aigw_common.settings import Settings
from rest_shim.app import build_app
from rest_shim.errors import INFERENCE_FAILED, INTERNAL_ERROR, validation_detail
from tests.rest_shim.conftest import AUTH_HEADERS, RunningRouter, completion_body

_FAILED = {"detail": INFERENCE_FAILED}
ROUTER_ERRORS = [
    (
        errors.Unauthenticated("Forbidden by auth provider"),
        401,
        {"error": "Forbidden by auth provider"},
    ),
    (
        errors.PermissionDenied("Unauthorized to access code completions"),
        403,
        {"detail": "Unauthorized to access code completions"},
    ),
    (errors.FeatureUnavailable("feature is disabled"), 503, {"detail": "feature is disabled"}),
    (errors.FailedPrecondition("no model for it"), 400, {"detail": "no model for it"}),
    (errors.UpstreamUnavailable("vllm at http://10.0.0.5:8000 refused"), 503, _FAILED),
    (errors.UpstreamTimeout("model timed out after 60 s"), 503, _FAILED),
    (errors.UpstreamRejected("model server said 400: context too long"), 503, _FAILED),
    (
        errors.InvalidArgument("code.file_name is empty", field="code.file_name"),
        400,
        {"detail": "code.file_name is empty"},
    ),
    (errors.ResourceExhausted("too many requests"), 429, {"detail": "too many requests"}),
    (
        errors.UpstreamInvalidRequest(
            "model m at http://10.0.0.5:8000/v1 refused (HTTP 400: too many stop sequences)",
            metadata={"http_status": "400", "upstream_message": "too many stop sequences"},
        ),
        400,
        {"detail": "too many stop sequences"},
    ),
    (RuntimeError("db password is hunter2"), 500, {"detail": INTERNAL_ERROR}),
]


@pytest.mark.parametrize(("error", "status", "body"), ROUTER_ERRORS)
@pytest.mark.parametrize("stream", [False, True])
async def test_router_errors_map_to_gitlabs_statuses_and_bodies(
    client: httpx.AsyncClient,
    router: RunningRouter,
    error: Exception,
    status: int,
    body: dict[str, Any],
    stream: bool,
) -> None:
    router.fail_with(error)

    response = await client.post(
        "/v2/code/completions", json=completion_body(stream=stream), headers=AUTH_HEADERS
    )

    assert response.status_code == status
    assert response.json() == body


async def test_unreachable_router_is_inference_failed(settings: Settings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    channel = open_channel(f"127.0.0.1:{dead_port}")
    app = build_app(settings, channel)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://shim"
        ) as http:
            response = await http.post(
                "/v2/code/completions", json=completion_body(), headers=AUTH_HEADERS
            )
    finally:
        await channel.close()

    assert response.status_code == 503
    assert response.json() == {"detail": INFERENCE_FAILED}


async def test_failure_after_the_stream_started_ends_the_stream(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    router.fail_with(errors.UpstreamUnavailable("model server went away"), after_chunks=2)

    response = await client.post(
        "/v2/code/completions", json=completion_body(stream=True), headers=AUTH_HEADERS
    )

    assert response.status_code == 200
    assert response.text == "".join(router.servicer.chunks[:2])


def test_validation_detail_names_nested_fields_without_echoing_input() -> None:
    not_int = "Input should be a valid integer"
    detail = validation_detail(
        [
            {"loc": ("body", "telemetry", 0, "requests"), "msg": not_int, "input": "sk-1"},
            {"loc": ("body", "current_file"), "msg": "Field required", "input": {}},
        ]
    )

    assert detail == (
        "telemetry[0].requests: Input should be a valid integer; current_file: Field required"
    )
