"""`aigw logging request-logging on|off|status` across real processes: the router follows the
switch kept in config_svc without a restart, and the audit trail records who flipped it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from aigw.router.v1 import router_service_pb2, router_service_pb2_grpc
from aigw_cli.local_suite import LocalSuite, local_suite

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
async def suite(tmp_path: Path) -> AsyncIterator[LocalSuite]:
    async with local_suite(tmp_path / "aigw") as running:
        yield running


async def _complete(suite: LocalSuite, marker: str) -> None:
    completion = router_service_pb2.Completion(
        feature="code_completions",
        code=router_service_pb2.CodeContext(
            file_name="a.py", content_above_cursor=f"# {marker}\ndef f():\n    "
        ),
    )
    async with grpc.aio.insecure_channel(suite.address("router_svc")) as channel:
        await router_service_pb2_grpc.RouterServiceStub(channel).Complete(
            router_service_pb2.CompleteRequest(completion=completion),
            metadata=[("authorization", f"Bearer {suite.demo_token()}")],
            timeout=10,
        )


def _access_lines(suite: LocalSuite) -> list[dict[str, Any]]:
    log_file = suite.data_dir / "logs" / "router_svc.log"
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    return [line for line in lines if line.get("message") == "access"]


async def _expanded(suite: LocalSuite) -> bool:
    """Whether the router logs the prompt of a completion sent now."""
    count = len(_access_lines(suite))
    await _complete(suite, "marker")
    # The router writes the line as the call ends, just after the answer leaves.
    while len(_access_lines(suite)) <= count:  # noqa: ASYNC110 - another process's file
        await asyncio.sleep(0.05)
    return "marker" in str(_access_lines(suite)[count].get("request", ""))


async def _until_expanded(suite: LocalSuite, expanded: bool) -> None:
    """The router applies a switch when config_svc's watch delivers it: moments later."""
    async with asyncio.timeout(20):
        while await _expanded(suite) != expanded:  # noqa: ASYNC110 - state in another process
            await asyncio.sleep(0.1)


async def test_the_switch_expands_the_routers_access_lines_without_restart(
    suite: LocalSuite,
) -> None:
    router_pid = suite.pid_of("router_svc")
    assert "request logging (runtime switch): off" in await suite.aigw(
        "logging", "request-logging", "status"
    )
    assert not await _expanded(suite)

    assert "request logging on" in await suite.aigw("logging", "request-logging", "on")
    assert "switch): on" in await suite.aigw("logging", "request-logging", "status")
    await _until_expanded(suite, True)

    assert "request logging off" in await suite.aigw("logging", "request-logging", "off")
    await _until_expanded(suite, False)

    assert suite.pid_of("router_svc") == router_pid  # no restart
    audit = await suite.aigw("config", "audit", "--limit", "2")
    assert "set request logging: off" in audit
    assert "set request logging: on" in audit
