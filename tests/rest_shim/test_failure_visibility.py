"""A failure is never delivered as success, and a caller that leaves stops the work it asked for.

Through a real uvicorn (ASGITransport neither aborts a response nor disconnects): a stream that
fails after its first chunk ends in each route's own failure form, and every non-streamed route
cancels its router call the moment its caller goes away.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest

from aigw_common import errors
from tests.rest_shim.conftest import (
    AUTH_HEADERS,
    RunningRouter,
    completion_body,
    leave_once_called,
)
from tests.rest_shim.test_stream_cancellation import STREAMING_ROUTES

_RAW_TEXT_ROUTES = [
    route
    for route in STREAMING_ROUTES
    if route[0] not in {"/v2/chat/agent", "/v4/code/suggestions", "/v1/chat/completions"}
    and route[0] != "/v1/completions"
]
_V3 = STREAMING_ROUTES[5][1]


def _unstreamed(body: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    if "prompt_components" in body and "payload" in body["prompt_components"][0]:
        body["prompt_components"][0]["payload"].pop("stream", None)
    body.pop("stream", None)
    return body


_UNARY_ROUTES = [
    ("/v2/code/completions", completion_body()),
    ("/v2/code/generations", completion_body()),
    ("/v1/chat/explain_code", _unstreamed(STREAMING_ROUTES[2][1])),
    ("/v1/prompts/chat/explain_code", {"inputs": {"code": "x"}}),
    ("/v3/code/completions", _unstreamed(_V3)),
    ("/v4/code/suggestions", _unstreamed(_V3)),
    ("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}]}),
    ("/v1/completions", {"model": "m", "prompt": "x"}),
]


async def _read_failed_stream(
    shim_url: str, route: str, body: dict[str, Any]
) -> tuple[bytes, Exception | None]:
    """The body received before the stream ended, and the error that ended it (if any)."""
    received: list[bytes] = []
    async with (
        httpx.AsyncClient(base_url=shim_url) as http,
        http.stream("POST", route, json=body, headers=AUTH_HEADERS) as response,
    ):
        assert response.status_code == 200
        try:
            async for piece in response.aiter_raw():
                received.append(piece)
        except httpx.HTTPError as error:
            return b"".join(received), error
    return b"".join(received), None


@pytest.mark.parametrize(("route", "body"), _RAW_TEXT_ROUTES)
async def test_a_raw_text_stream_that_fails_midway_is_aborted_not_ended(
    shim_url: str,
    router: RunningRouter,
    route: str,
    body: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    router.fail_with(errors.UpstreamUnavailable("model server went away"), after_chunks=2)
    caplog.set_level(logging.INFO)

    received, error = await _read_failed_stream(shim_url, route, body)

    assert isinstance(error, httpx.RemoteProtocolError)  # no terminating chunk
    assert received.decode() == "".join(router.servicer.chunks[:2])
    access = [r for r in caplog.records if r.name == "aigw.access"]
    assert access
    assert access[-1].msg["failure"] == "UPSTREAM_UNAVAILABLE"  # type: ignore[index]
    # A deliberate abort logs the shim's warning, not uvicorn's traceback.
    assert not [r for r in caplog.records if r.exc_info]


async def test_v4_suggestions_fail_with_an_error_event_and_no_stream_end(
    shim_url: str, router: RunningRouter
) -> None:
    router.fail_with(errors.UpstreamUnavailable("model server went away"), after_chunks=2)

    received, error = await _read_failed_stream(shim_url, "/v4/code/suggestions", _V3)

    assert error is None
    blocks = received.decode().replace("\r\n", "\n").strip().split("\n\n")
    events = [block.split("\n")[0] for block in blocks]
    assert events[0] == "event: stream_start"
    assert events[-1] == "event: error"
    assert "event: stream_end" not in events


async def test_the_agent_fails_with_its_error_event(shim_url: str, router: RunningRouter) -> None:
    router.fail_with(errors.UpstreamUnavailable("model server went away"), after_chunks=2)

    received, error = await _read_failed_stream(
        shim_url, "/v2/chat/agent", {"messages": [{"role": "user", "content": "hi"}]}
    )

    assert error is None
    lines = [json.loads(line) for line in received.decode().splitlines()]
    assert lines[-1]["type"] == "error"
    assert lines[-1]["data"]["retryable"] is True


@pytest.mark.parametrize("route", ["/v1/chat/completions", "/v1/completions"])
async def test_openai_streams_fail_with_an_error_event_and_no_done(
    shim_url: str, router: RunningRouter, route: str
) -> None:
    router.fail_with(errors.UpstreamUnavailable("model server went away"), after_chunks=2)
    body = dict(next(b for r, b in STREAMING_ROUTES if r == route))

    received, error = await _read_failed_stream(shim_url, route, body)

    assert error is None
    assert '"error"' in received.decode().strip().split("\n\n")[-1]
    assert "[DONE]" not in received.decode()


@pytest.mark.parametrize(("route", "body"), _UNARY_ROUTES)
async def test_a_caller_leaving_a_non_streamed_request_cancels_the_router_call(
    shim_url: str,
    router: RunningRouter,
    route: str,
    body: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    router.servicer.complete_delay_s = 30.0
    caplog.set_level(logging.INFO)

    await leave_once_called(shim_url, router, route, body)
    await asyncio.wait_for(router.servicer.cancelled.wait(), timeout=2.0)

    for _ in range(50):
        access = [r.msg for r in caplog.records if r.name == "aigw.access"]
        if access:
            break
        await asyncio.sleep(0.02)
    assert access[-1]["status"] == 499  # type: ignore[index]
    assert access[-1]["failure"] == "client disconnected"  # type: ignore[index]


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/v2/code/completions", completion_body()),
        ("/v1/completions", {"model": "m", "prompt": "x"}),
    ],
)
async def test_a_cancel_the_caller_did_not_make_is_not_a_499(
    shim_url: str, router: RunningRouter, route: str, body: dict[str, Any]
) -> None:
    router.fail_with(errors.Cancelled("shed by the server"))

    async with httpx.AsyncClient(base_url=shim_url) as http:
        response = await http.post(route, json=body, headers=AUTH_HEADERS)

    assert response.status_code == 503
    assert "shed" not in response.text
