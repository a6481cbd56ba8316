"""Slow, huge, idle and anonymous clients cannot hold the shim's connections or memory.

Raw sockets against the shim behind a real uvicorn with the production listener (small limits
so each case takes a fraction of a second); every answer comes from the request head alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import grpc
import httpx
import pytest

from aigw_common.settings import FastApiSettings, Settings
from rest_shim.app import build_app
from tests.rest_shim.conftest import AUTH_HEADERS, RunningRouter, completion_body, served

_LIMITS = FastApiSettings(
    header_timeout_s=0.3,
    body_timeout_s=0.3,
    max_connections=6,
    health_headroom=2,
    max_body_bytes=10_000,
    max_header_bytes=4_000,
)
_HEAD = (
    "POST /v2/code/completions HTTP/1.1\r\nhost: shim\r\ncontent-type: application/json\r\n"
    "authorization: Bearer test-token\r\n"
)


@pytest.fixture
async def limited_url(
    settings: Settings, router_channel: grpc.aio.Channel, router: RunningRouter
) -> AsyncIterator[str]:
    app = build_app(settings.model_copy(update={"fastapi": _LIMITS}), router_channel)
    async with served(app) as url:
        yield url


@pytest.fixture
async def capped_url(
    settings: Settings, router_channel: grpc.aio.Channel, router: RunningRouter
) -> AsyncIterator[str]:
    """As limited_url, with time for the test to fill the connections before they expire."""
    limits = _LIMITS.model_copy(update={"header_timeout_s": 30.0})
    app = build_app(settings.model_copy(update={"fastapi": limits}), router_channel)
    async with served(app) as url:
        yield url


async def _connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def _answer(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes (bounded: the limits are sub-second)."""
    try:
        return await asyncio.wait_for(reader.read(), timeout=5.0)
    except ConnectionResetError:
        return b""


async def test_an_idle_connection_is_closed_after_the_header_timeout(limited_url: str) -> None:
    reader, writer = await _connect(limited_url)
    answer = await _answer(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408")


async def test_a_trickled_head_is_cut_at_the_header_timeout(limited_url: str) -> None:
    reader, writer = await _connect(limited_url)
    writer.write(_HEAD.encode())  # never the blank line that ends the head
    answer = await _answer(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408")


async def test_a_half_sent_body_is_cut_at_the_body_timeout(
    limited_url: str, router: RunningRouter
) -> None:
    reader, writer = await _connect(limited_url)
    writer.write(f"{_HEAD}content-length: 500\r\n\r\n{{".encode())
    answer = await _answer(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert router.servicer.completions == []


async def test_a_declared_large_body_is_refused_413_before_it_is_sent(limited_url: str) -> None:
    reader, writer = await _connect(limited_url)
    writer.write(f"{_HEAD}content-length: 100000000\r\n\r\n".encode())
    answer = await _answer(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413")


async def test_a_chunked_body_is_refused_413_once_it_passes_the_limit(limited_url: str) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1_000

    async with httpx.AsyncClient(base_url=limited_url) as http:
        response = await http.post("/v2/code/completions", content=body(), headers=AUTH_HEADERS)
    assert response.status_code == 413


async def test_an_anonymous_body_is_refused_401_before_it_is_read(limited_url: str) -> None:
    reader, writer = await _connect(limited_url)
    head = _HEAD.replace("authorization: Bearer test-token\r\n", "")
    writer.write(f"{head}content-length: 5000\r\n\r\n".encode())  # and no body at all
    answer = await _answer(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 401")
    assert b'"error":"No authorization header presented"' in answer


async def test_an_oversized_head_is_refused_431(limited_url: str) -> None:
    reader, writer = await _connect(limited_url)
    writer.write(f"{_HEAD}x-padding: {'a' * 5_000}\r\n\r\n".encode())
    answer = await _answer(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 431")


async def test_connections_past_the_cap_are_closed_and_health_checks_keep_their_headroom(
    capped_url: str,
) -> None:
    limited_url = capped_url
    async with AsyncExitStack() as stack:
        idle = []
        for _ in range(_LIMITS.max_connections - _LIMITS.health_headroom):
            reader, writer = await _connect(limited_url)
            stack.callback(writer.close)
            idle.append(reader)
        # In the headroom: health checks are served, API calls refused at once.
        async with httpx.AsyncClient(base_url=limited_url) as http:
            health = await http.get("/monitoring/healthz")
        async with httpx.AsyncClient(base_url=limited_url) as http:
            busy = await http.post(
                "/v2/code/completions", json=completion_body(), headers=AUTH_HEADERS
            )
        for _ in range(_LIMITS.health_headroom):
            reader, writer = await _connect(limited_url)
            stack.callback(writer.close)
        # Past the cap: closed without a word.
        reader, writer = await _connect(limited_url)
        stack.callback(writer.close)
        refused = await _answer(reader)

    assert health.status_code == 200
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "1"
    assert refused == b""
