from __future__ import annotations

import httpx

from aigw_common import errors
from tests.rest_shim.conftest import AUTH_HEADERS, RunningRouter, completion_body


async def test_request_id_is_echoed_and_forwarded_to_the_router(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    headers = {**AUTH_HEADERS, "X-Request-ID": "rails-correlation-42"}

    response = await client.post("/v2/code/completions", json=completion_body(), headers=headers)

    assert response.headers["X-Request-ID"] == "rails-correlation-42"
    assert router.servicer.metadata[0]["x-request-id"] == "rails-correlation-42"


async def test_request_id_is_generated_when_absent(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    first = await client.post("/v2/code/completions", json=completion_body(), headers=AUTH_HEADERS)
    second = await client.post("/v2/code/completions", json=completion_body(), headers=AUTH_HEADERS)

    generated = first.headers["X-Request-ID"]
    assert generated
    assert generated != second.headers["X-Request-ID"]
    assert router.servicer.metadata[0]["x-request-id"] == generated


async def test_unusable_request_id_is_replaced(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    headers = {**AUTH_HEADERS, "X-Request-ID": "x" * 500}

    response = await client.post("/v2/code/completions", json=completion_body(), headers=headers)

    assert response.status_code == 200
    assert response.headers["X-Request-ID"] != "x" * 500
    assert router.servicer.metadata[0]["x-request-id"] == response.headers["X-Request-ID"]


async def test_request_id_is_on_streams_errors_and_probes(
    client: httpx.AsyncClient, router: RunningRouter
) -> None:
    headers = {**AUTH_HEADERS, "X-Request-ID": "req-1"}
    stream = await client.post(
        "/v2/code/completions", json=completion_body(stream=True), headers=headers
    )
    invalid = await client.post("/v2/code/completions", json={}, headers=headers)
    router.fail_with(errors.Unauthenticated("Forbidden by auth provider"))
    refused = await client.post("/v2/code/completions", json=completion_body(), headers=headers)
    probe = await client.get("/monitoring/healthz", headers={"X-Request-ID": "req-1"})

    for response in (stream, invalid, refused, probe):
        assert response.headers["X-Request-ID"] == "req-1"
    assert [m["x-request-id"] for m in router.servicer.metadata] == ["req-1", "req-1"]
