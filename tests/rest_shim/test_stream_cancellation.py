"""Every streaming route cancels its router call when the HTTP client goes away, mid-stream or
before the first chunk (through a real uvicorn: ASGITransport never disconnects)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.rest_shim.conftest import (
    AUTH_HEADERS,
    RunningRouter,
    completion_body,
    leave_once_called,
)

_V3 = {
    "prompt_components": [
        {
            "type": "code_editor_completion",
            "payload": {
                "file_name": "a.py",
                "content_above_cursor": "x",
                "content_below_cursor": "",
                "stream": True,
            },
        }
    ]
}
_CHAT = {
    "prompt_components": [
        {"type": "prompt", "metadata": {"source": "s", "version": "v"}, "payload": {"content": "x"}}
    ],
    "stream": True,
}
STREAMING_ROUTES: list[tuple[str, dict[str, Any]]] = [
    ("/v2/code/completions", completion_body(stream=True)),
    ("/v2/code/generations", completion_body(stream=True)),
    ("/v1/chat/explain_code", _CHAT),
    ("/v1/prompts/chat/explain_code", {"inputs": {"code": "x"}, "stream": True}),
    ("/v2/chat/agent", {"messages": [{"role": "user", "content": "hi"}]}),
    ("/v3/code/completions", _V3),
    ("/v4/code/suggestions", _V3),
    (
        "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True},
    ),
    ("/v1/completions", {"model": "m", "prompt": "x", "stream": True}),
]


@pytest.mark.parametrize(("route", "body"), STREAMING_ROUTES)
async def test_client_disconnect_mid_stream_cancels_the_router_call(
    shim_url: str, router: RunningRouter, route: str, body: dict[str, Any]
) -> None:
    router.servicer.chunks = [f"line {n}\n" for n in range(200)]
    router.servicer.chunk_delay_s = 0.05

    async with (
        httpx.AsyncClient(base_url=shim_url) as http,
        http.stream("POST", route, json=body, headers=AUTH_HEADERS) as response,
    ):
        assert response.status_code == 200
        first = await anext(response.aiter_raw())
        assert first
    # Leaving the block closes the connection with most of the answer unread.

    await asyncio.wait_for(router.servicer.cancelled.wait(), timeout=2.0)


@pytest.mark.parametrize(("route", "body"), STREAMING_ROUTES)
async def test_client_gone_before_the_first_chunk_cancels_the_router_call(
    shim_url: str, router: RunningRouter, route: str, body: dict[str, Any]
) -> None:
    router.servicer.chunks = [f"line {n}\n" for n in range(200)]
    router.servicer.chunk_delay_s = 0.3

    await leave_once_called(shim_url, router, route, body)

    await asyncio.wait_for(router.servicer.cancelled.wait(), timeout=2.0)
