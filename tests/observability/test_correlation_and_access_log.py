"""One correlation id from the client to the model server and in every service's log lines; one
access-log line per request; expanded logging only when switched on."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest

from aigw.router.v1 import router_service_pb2
from aigw_common.settings import LoggingSettings, Settings
from aigw_simulator import simulated_text
from router_svc.access_log import request_text
from tests.observability.conftest import COMPLETION_BODY, REQUEST_ID, complete
from tests.rest_shim.conftest import Gateway


def _access(logs: list[MutableMapping[str, Any]], **match: Any) -> list[MutableMapping[str, Any]]:
    return [
        line
        for line in logs
        if line["event"] == "access" and all(line.get(k) == v for k, v in match.items())
    ]


async def test_one_id_from_the_client_to_the_model_server_and_every_log_line(
    configured: Gateway, logs: list[MutableMapping[str, Any]]
) -> None:
    text = await complete(configured)

    [record] = configured.records()
    assert record["request_id"] == REQUEST_ID
    assert text == simulated_text(6)
    shim = _access(logs, route="/v2/code/completions")
    router = _access(logs, method="StreamComplete")
    upstream = [line for line in logs if line["event"] == "upstream call"]
    assert len(shim) == len(router) == len(upstream) == 1
    for line in (*shim, *router, *upstream):
        assert line["correlation_id"] == REQUEST_ID, line
    # Whatever else the services logged while serving it carries the id as well.
    serving = [line for line in logs if "correlation_id" in line]
    assert {line["correlation_id"] for line in serving} == {REQUEST_ID}


async def test_the_access_lines_carry_what_an_operator_needs(
    configured: Gateway, logs: list[MutableMapping[str, Any]]
) -> None:
    await complete(configured)

    [shim] = _access(logs, route="/v2/code/completions")
    assert shim["status"] == 200
    assert shim["method"] == "POST"
    assert 0 < shim["time_to_first_byte_s"] <= shim["duration_s"]
    [router] = _access(logs, method="StreamComplete")
    assert router["status"] == "OK"
    assert router["feature"] == "code_completions"
    assert router["model"] == "codestral"
    assert router["provider"] == "openai_compatible"
    assert router["output_tokens"] == 6
    assert router["input_tokens"] > 0
    assert 0 < router["time_to_first_chunk_s"] <= router["duration_s"]
    # Not expanded unless switched on, and never one line per token.
    assert "request" not in router
    assert "response" not in router
    assert len([line for line in logs if line["event"] == "access"]) == 2


async def test_a_refused_request_is_logged_with_its_status(
    configured: Gateway, logs: list[MutableMapping[str, Any]]
) -> None:
    await configured.stack.assign("code_completions", disabled=True)

    response = await configured.http.post(
        "/v2/code/completions",
        json=COMPLETION_BODY,
        headers=configured.headers("complete_code"),
    )

    assert response.status_code >= 400
    [router] = _access(logs, method="StreamComplete") or _access(logs, method="Complete")
    assert router["status"] == "FAILED_PRECONDITION"
    assert router["feature"] == "code_completions"
    assert router["time_to_first_chunk_s"] is None
    [shim] = _access(logs, route="/v2/code/completions")
    assert shim["status"] == response.status_code


class TestExpandedLoggingBySetting:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"logging": LoggingSettings(enable_request_logging=True)})

    async def test_prompt_and_answer_are_logged(
        self, configured: Gateway, logs: list[MutableMapping[str, Any]]
    ) -> None:
        await complete(configured)

        [router] = _access(logs, method="StreamComplete")
        assert router["response"] == simulated_text(6)
        assert "def fib(n):" in router["request"]


class TestVerboseHeaderAllowed:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"logging": LoggingSettings(allow_verbose_header=True)})

    async def test_the_header_expands_that_request_only(
        self, configured: Gateway, logs: list[MutableMapping[str, Any]]
    ) -> None:
        await complete(configured, **{"X-Gitlab-Enabled-Instance-Verbose-Ai-Logs": "true"})
        await complete(configured)

        verbose, plain = _access(logs, method="StreamComplete")
        assert verbose["response"] == simulated_text(6)
        assert "response" not in plain


async def test_the_header_is_ignored_unless_the_operator_allows_it(
    configured: Gateway, logs: list[MutableMapping[str, Any]]
) -> None:
    await complete(configured, **{"X-Gitlab-Enabled-Instance-Verbose-Ai-Logs": "true"})

    [router] = _access(logs, method="StreamComplete")
    assert "response" not in router
    assert "request" not in router


def test_expanded_logging_never_shows_a_callers_model_key() -> None:
    completion = router_service_pb2.Completion(
        feature="code_completions",
        prompt="x = ",
        custom_model=router_service_pb2.CustomModel(
            family="codestral", endpoint="http://vllm:8000/v1", api_key="sk-caller-key-123"
        ),
    )

    shown = request_text(completion)

    assert "sk-caller-key-123" not in shown
    assert "http://vllm:8000/v1" in shown
    assert completion.custom_model.api_key == "sk-caller-key-123"  # the request is untouched
