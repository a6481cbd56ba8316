"""The fault suite: each service killed and frozen mid-stream, model-server faults driven from the
simulator, through the real processes `aigw up --demo` starts (loopback only).

Each case asserts what the caller sees (never a failure dressed as success) and prints how long
it took (`pytest tests/faults -s` shows the figures the issue's closing table reports). Every wait
is bounded; the suite takes about a minute.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aigw_cli.local_suite import LocalSuite, local_suite

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

_BODY = {
    "current_file": {
        "file_name": "fib.py",
        "content_above_cursor": "def fib(n):\n    ",
        "content_below_cursor": "",
    },
}
_SLOW_REPLY = {"chunks": [f"line{n} " for n in range(400)], "chunks_per_second": 20}


@pytest.fixture
async def suite(tmp_path: Path) -> AsyncIterator[LocalSuite]:
    async with local_suite(tmp_path / "aigw") as suite:
        yield suite


def _headers(suite: LocalSuite) -> dict[str, str]:
    return {"Authorization": f"Bearer {suite.demo_token()}"}


async def _script(suite: LocalSuite, *replies: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=suite.simulator_url, timeout=5) as http:
        await http.delete("/_simulator/replies")
        response = await http.post("/_simulator/replies", json={"replies": list(replies)})
        response.raise_for_status()


async def _records(suite: LocalSuite) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=suite.simulator_url, timeout=5) as http:
        records: list[dict[str, Any]] = (await http.get("/_simulator/requests")).json()
        return records


async def _stream_until_failure(
    suite: LocalSuite, fault: Any, *, route: str = "/v2/code/completions"
) -> tuple[int, bytes, BaseException | None, float]:
    """Stream `route`; once the first chunk arrived, run `fault()`. Returns the status, what was
    received, how the stream ended (None: properly) and seconds from the fault to that end."""
    received = bytearray()
    faulted_at = 0.0
    ending: BaseException | None = None
    async with (
        httpx.AsyncClient(base_url=suite.rest_url, timeout=60) as http,
        http.stream("POST", route, json={**_BODY, "stream": True}, headers=_headers(suite)) as r,
    ):
        try:
            async for piece in r.aiter_raw():
                if not received:
                    fault()
                    faulted_at = time.monotonic()
                received.extend(piece)
        except httpx.HTTPError as error:
            ending = error
    return r.status_code, bytes(received), ending, time.monotonic() - faulted_at


async def _serving_again(suite: LocalSuite, service: str, old_pid: int) -> None:
    """Once the supervisor's new `service` process reports SERVING."""
    async with asyncio.timeout(60):
        while True:
            try:
                if suite.pid_of(service) != old_pid:
                    async with grpc.aio.insecure_channel(suite.address(service)) as channel:
                        stub: Any = health_pb2_grpc.HealthStub(channel)
                        answer = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                        if answer.status == health_pb2.HealthCheckResponse.SERVING:
                            return
            except (grpc.aio.AioRpcError, ValueError, KeyError, OSError):
                pass
            await asyncio.sleep(0.02)


async def _until_served(suite: LocalSuite, *, timeout_s: float = 30.0) -> float:
    """Seconds until a non-streamed completion succeeds again."""
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=suite.rest_url, timeout=10) as http:
        async with asyncio.timeout(timeout_s):
            while True:
                try:
                    response = await http.post(
                        "/v2/code/completions", json=_BODY, headers=_headers(suite)
                    )
                    if response.status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)


@pytest.mark.parametrize("service", ["model_proxy_svc", "router_svc"])
async def test_a_service_killed_mid_stream_aborts_the_stream_and_traffic_returns(
    suite: LocalSuite, service: str
) -> None:
    await _script(suite, _SLOW_REPLY)
    pid = suite.pid_of(service)

    status, received, ending, seconds = await _stream_until_failure(
        suite, lambda: os.kill(pid, signal.SIGKILL)
    )

    assert status == 200
    assert received  # the first chunk, then the abort
    assert isinstance(ending, httpx.RemoteProtocolError), "a cut answer must not end cleanly"
    await _serving_again(suite, service, pid)
    back_after = await _until_served(suite)
    print(f"\n{service} SIGKILL: aborted in {seconds:.3f} s; served {back_after:.2f} s after up")


async def test_a_frozen_model_proxy_is_detected_in_seconds(suite: LocalSuite) -> None:
    await _script(suite, _SLOW_REPLY)
    pid = suite.pid_of("model_proxy_svc")
    try:
        status, _, ending, seconds = await _stream_until_failure(
            suite, lambda: os.kill(pid, signal.SIGSTOP)
        )
    finally:
        os.kill(pid, signal.SIGCONT)

    assert status == 200
    assert isinstance(ending, httpx.RemoteProtocolError)
    # gRPC keepalive (aigw_common.channels): a ping every 5 s, unanswered for 5 s.
    assert seconds < 30
    print(f"\nmodel_proxy_svc SIGSTOP: stream aborted after {seconds:.2f} s")


@pytest.mark.parametrize(
    ("fault", "reply"),
    [
        ("in-band error", {**_SLOW_REPLY, "error_after_chunks": 3}),
        ("connection cut", {**_SLOW_REPLY, "cut_after_chunks": 3}),
    ],
)
async def test_a_model_server_failing_mid_stream_aborts_the_stream(
    suite: LocalSuite, fault: str, reply: dict[str, Any]
) -> None:
    await _script(suite, reply)

    status, received, ending, seconds = await _stream_until_failure(suite, lambda: None)

    assert status == 200
    assert received
    assert isinstance(ending, httpx.RemoteProtocolError)
    print(f"\nmodel server {fault}: stream aborted after {seconds:.3f} s")


async def test_a_model_chunk_larger_than_a_grpc_message_arrives_whole(suite: LocalSuite) -> None:
    huge = "x" * (10 * 1024 * 1024)
    await _script(suite, {"chunks": ["start ", huge, " end"]})

    status, received, ending, _ = await _stream_until_failure(suite, lambda: None)

    assert status == 200
    assert ending is None
    assert received.decode().startswith("start ")
    assert len(received) >= len(huge)


async def test_a_non_streamed_caller_leaving_stops_the_model(suite: LocalSuite) -> None:
    await _script(suite, _SLOW_REPLY)

    async with httpx.AsyncClient(base_url=suite.rest_url) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(
                "/v2/code/generations", json=_BODY, headers=_headers(suite), timeout=0.5
            )
        left = time.monotonic()

    async with asyncio.timeout(15):
        while not any(record.get("disconnected") for record in await _records(suite)):  # noqa: ASYNC110 - another process's state
            await asyncio.sleep(0.02)
    print(f"\nnon-streamed caller left: model request closed {time.monotonic() - left:.3f} s later")
