"""The shim in front of the real in-process stack, and log capture that keeps the context."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import structlog

from tests.rest_shim import conftest as shim_fixtures
from tests.rest_shim.conftest import Gateway

simulator = shim_fixtures.simulator
stack = shim_fixtures.stack
gateway = shim_fixtures.gateway

REQUEST_ID = "01JD2ZQ3V4K6G0Y4M7X2T9N8P5"  # what Gateway.headers sends as X-Request-ID
COMPLETION_BODY = {
    "current_file": {
        "file_name": "fib.py",
        "content_above_cursor": "def fib(n):\n    ",
        "content_below_cursor": "",
    },
    "stream": True,
}


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Every event logged during the test, with the context (correlation id) merged in."""
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as captured:
        yield captured


@pytest.fixture
async def configured(gateway: Gateway) -> Gateway:
    await gateway.stack.add_model("codestral", gateway.stack.simulator.endpoint)
    await gateway.stack.assign("code_completions", "codestral")
    return gateway


async def complete(gateway: Gateway, **headers: str) -> str:
    """One streamed code completion through the shim; returns the text."""
    response = await gateway.http.post(
        "/v2/code/completions",
        json=COMPLETION_BODY,
        headers={**gateway.headers("complete_code"), **headers},
    )
    assert response.status_code == 200, response.text
    return response.text
