"""Prometheus metric names and values after known traffic, and the /metrics listener."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY

from aigw_common.metrics import start_metrics_server
from tests.observability.conftest import complete
from tests.rest_shim.conftest import Gateway

_SERVED = {
    "feature": "code_completions",
    "model": "codestral",
    "provider": "openai_compatible",
}


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_completion_is_counted_once_with_its_tokens_and_latencies(
    configured: Gateway,
) -> None:
    before = {
        "inferences": _value("model_inferences_total", **_SERVED, status="OK"),
        "duration": _value("inference_request_duration_seconds_count", **_SERVED, status="OK"),
        "ttft": _value("gen_ai_server_time_to_first_token_seconds_count", **_SERVED),
        "output": _value("gen_ai_client_token_usage_sum", **_SERVED, gen_ai_token_type="output"),
        "grpc": _value(
            "grpc_server_handled_total",
            grpc_service="aigw.router.v1.RouterService",
            grpc_method="StreamComplete",
            grpc_code="OK",
        ),
        "proxy": _value(
            "grpc_server_handled_total",
            grpc_service="aigw.modelproxy.v1.ModelProxyService",
            grpc_method="StreamGenerate",
            grpc_code="OK",
        ),
        "http": _value(
            "http_requests_total", route="/v2/code/completions", method="POST", status="200"
        ),
    }

    await complete(configured)
    await complete(configured)

    assert _value("model_inferences_total", **_SERVED, status="OK") == before["inferences"] + 2
    assert (
        _value("inference_request_duration_seconds_count", **_SERVED, status="OK")
        == before["duration"] + 2
    )
    assert (
        _value("gen_ai_server_time_to_first_token_seconds_count", **_SERVED) == before["ttft"] + 2
    )
    assert (
        _value("gen_ai_client_token_usage_sum", **_SERVED, gen_ai_token_type="output")
        == before["output"] + 12
    )
    assert (
        _value(
            "grpc_server_handled_total",
            grpc_service="aigw.router.v1.RouterService",
            grpc_method="StreamComplete",
            grpc_code="OK",
        )
        == before["grpc"] + 2
    )
    assert (
        _value(
            "grpc_server_handled_total",
            grpc_service="aigw.modelproxy.v1.ModelProxyService",
            grpc_method="StreamGenerate",
            grpc_code="OK",
        )
        == before["proxy"] + 2
    )
    assert (
        _value("http_requests_total", route="/v2/code/completions", method="POST", status="200")
        == before["http"] + 2
    )
    assert _value("model_inferences_in_flight", feature="code_completions") == 0
    assert _value("http_requests_in_flight") == 0


async def test_an_unreachable_model_counts_an_upstream_error_by_type(gateway: Gateway) -> None:
    # A port nothing listens on: connection refused.
    await gateway.stack.add_model("dead", "http://127.0.0.1:9/v1")
    await gateway.stack.assign("code_completions", "dead")
    labels = {"provider": "openai_compatible", "error_type": "UPSTREAM_UNAVAILABLE"}
    refused = {"feature": "code_completions", "model": "none", "provider": "none"}
    before = _value("model_upstream_errors_total", **labels)
    before_failed = _value("model_inferences_total", **refused, status="UNAVAILABLE")

    response = await gateway.http.post(
        "/v2/code/completions",
        json={
            "current_file": {
                "file_name": "a.py",
                "content_above_cursor": "x",
                "content_below_cursor": "",
            }
        },
        headers=gateway.headers("complete_code"),
    )

    assert response.status_code >= 500
    assert _value("model_upstream_errors_total", **labels) == before + 1
    assert _value("model_inferences_total", **refused, status="UNAVAILABLE") == before_failed + 1


async def test_the_listener_serves_the_exposition_format() -> None:
    server = start_metrics_server("127.0.0.1", 0, service="tests")
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        server.close()

    assert response.status_code == 200
    assert "# TYPE model_inferences_total counter" in response.text
    assert "# TYPE gen_ai_server_time_to_first_token_seconds histogram" in response.text
    assert "# TYPE grpc_server_handled_total counter" in response.text
