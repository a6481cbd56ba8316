"""Streaming through a real uvicorn: chunk relay and cancellation when the client goes away."""

from __future__ import annotations

import asyncio

import httpx

from tests.rest_shim.conftest import (
    AUTH_HEADERS,
    RunningRouter,
    completion_body,
    leave_once_called,
)


async def test_chunks_arrive_as_bare_text_as_they_are_produced(
    shim_url: str, router: RunningRouter
) -> None:
    router.servicer.chunk_delay_s = 0.05
    pieces: list[bytes] = []

    async with (
        httpx.AsyncClient(base_url=shim_url) as http,
        http.stream(
            "POST", "/v2/code/completions", json=completion_body(stream=True), headers=AUTH_HEADERS
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for piece in response.aiter_raw():
            pieces.append(piece)

    assert b"".join(pieces).decode() == "".join(router.servicer.chunks)
    assert len(pieces) > 1


async def test_client_disconnect_mid_stream_cancels_the_router_call(
    shim_url: str, router: RunningRouter
) -> None:
    router.servicer.chunks = [f"line {n}\n" for n in range(200)]
    router.servicer.chunk_delay_s = 0.05

    async with (
        httpx.AsyncClient(base_url=shim_url) as http,
        http.stream(
            "POST", "/v2/code/completions", json=completion_body(stream=True), headers=AUTH_HEADERS
        ) as response,
    ):
        assert response.status_code == 200
        first = await anext(response.aiter_raw())
        assert first.startswith(b"line 0")
    # Leaving the block closes the connection with most of the answer unread.

    await asyncio.wait_for(router.servicer.cancelled.wait(), timeout=1.0)


async def test_client_gone_before_the_first_chunk_cancels_the_router_call(
    shim_url: str, router: RunningRouter
) -> None:
    router.servicer.chunks = [f"line {n}\n" for n in range(200)]
    router.servicer.chunk_delay_s = 0.3

    await leave_once_called(shim_url, router, "/v2/code/completions", completion_body(stream=True))

    await asyncio.wait_for(router.servicer.cancelled.wait(), timeout=1.0)
