from __future__ import annotations

import grpc
import httpx

from aigw_common.settings import FastApiSettings, RouterSettings, Settings
from rest_shim.app import build_app
from tests.rest_shim.conftest import AUTH_HEADERS, RunningRouter, completion_body, served


async def test_app_opens_its_router_channel_at_start_up(
    settings: Settings, router: RunningRouter
) -> None:
    configured = settings.model_copy(update={"router": RouterSettings(port=router.port)})
    app = build_app(configured)

    async with served(app, lifespan="on") as url, httpx.AsyncClient(base_url=url) as http:
        ready = await http.get("/monitoring/ready")
        answer = await http.post(
            "/v2/code/completions", json=completion_body(), headers=AUTH_HEADERS
        )

    assert ready.status_code == 200
    assert answer.status_code == 200
    assert len(router.servicer.completions) == 1


async def test_docs_are_off_unless_configured(
    settings: Settings, router_channel: grpc.aio.Channel
) -> None:
    documented = settings.model_copy(
        update={"fastapi": FastApiSettings(docs_url="/docs", openapi_url="/openapi.json")}
    )

    async with (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(settings, router_channel)),
            base_url="http://shim",
        ) as bare,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(documented, router_channel)),
            base_url="http://shim",
        ) as with_docs,
    ):
        assert (await bare.get("/openapi.json")).status_code == 404
        assert (await bare.get("/docs")).status_code == 404
        assert (await with_docs.get("/docs")).status_code == 200
        schema = (await with_docs.get("/openapi.json")).json()

    assert {"/v2/code/completions", "/v2/completions", "/monitoring/healthz"} <= set(
        schema["paths"]
    )
