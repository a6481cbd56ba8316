"""Expanded logging switched at runtime in config_svc: the router's next access line carries
the prompt and the answer, without a restart; each switch is in the audit trail."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from aigw.config.v1 import config_service_pb2
from aigw_simulator import simulated_text
from tests.observability.conftest import complete
from tests.polling import eventually
from tests.rest_shim.conftest import Gateway


def _access(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [
        line
        for line in logs
        if line["event"] == "access" and line.get("method") == "StreamComplete"
    ]


async def test_the_runtime_switch_expands_the_next_request_without_restart(
    configured: Gateway, logs: list[MutableMapping[str, Any]]
) -> None:
    stack = configured.stack
    switched = await stack.config.SetRequestLogging(
        config_service_pb2.SetRequestLoggingRequest(enabled=True), timeout=5
    )
    await eventually(lambda: stack.cache.version >= switched.version)
    await complete(configured)
    switched = await stack.config.SetRequestLogging(
        config_service_pb2.SetRequestLoggingRequest(enabled=False), timeout=5
    )
    await eventually(lambda: stack.cache.version >= switched.version)
    await complete(configured)

    expanded, plain = _access(logs)
    assert "def fib(n):" in expanded["request"]
    assert expanded["response"] == simulated_text(6)
    assert "request" not in plain
    events = await stack.config.ListAuditEvents(config_service_pb2.ListAuditEventsRequest())
    assert [e.changes[0] for e in events.events[:2]] == [
        "set request logging: off",
        "set request logging: on",
    ]
