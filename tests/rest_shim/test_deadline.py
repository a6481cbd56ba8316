"""The shim sets each completion's deadline from AIGW_FASTAPI__REQUEST_TIMEOUT_S and gRPC
carries it to the router. It used to be a fixed 60 s: a model configured to take 120 s was
still cut at 60 s, as a 503."""

from __future__ import annotations

import httpx
import pytest

from aigw_common.settings import FastApiSettings, Settings
from rest_shim.app import build_app
from tests.rest_shim.conftest import AUTH_HEADERS, RunningRouter, completion_body


@pytest.mark.parametrize("stream", [False, True])
async def test_the_router_gets_the_configured_request_deadline(
    settings: Settings, router_channel: object, router: RunningRouter, stream: bool
) -> None:
    configured = settings.model_copy(update={"fastapi": FastApiSettings(request_timeout_s=180)})
    app = build_app(configured, router_channel)  # type: ignore[arg-type]

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://shim"
    ) as http:
        response = await http.post(
            "/v2/code/completions", json=completion_body(stream=stream), headers=AUTH_HEADERS
        )

    assert response.status_code == 200
    [remaining] = router.servicer.remaining_s
    assert remaining is not None
    assert 170 < remaining <= 180


async def test_a_request_past_its_deadline_is_inference_failed(
    settings: Settings, router_channel: object, router: RunningRouter
) -> None:
    configured = settings.model_copy(update={"fastapi": FastApiSettings(request_timeout_s=0.3)})
    router.servicer.chunk_delay_s = 0.5
    app = build_app(configured, router_channel)  # type: ignore[arg-type]

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://shim"
    ) as http:
        response = await http.post(
            "/v2/code/completions", json=completion_body(stream=True), headers=AUTH_HEADERS
        )

    assert response.status_code == 503
    assert response.json() == {"detail": "Inference failed"}
    await router.servicer.cancelled.wait()
