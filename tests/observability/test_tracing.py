"""Traces across hops: the caller's W3C `traceparent` continues through the REST shim, the
router and the model proxy to the model server, each hop a child of the one before; spans go
over OTLP only when an endpoint is set."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aigw_common.settings import TracingSettings
from aigw_common.tracing import configure_tracing, exporting_provider
from tests.observability.conftest import COMPLETION_BODY, complete
from tests.polling import eventually
from tests.rest_shim.conftest import Gateway, served

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
CLIENT_SPAN_ID = 0x00F067AA0BA902B7
TRACEPARENT = f"00-{TRACE_ID:032x}-{CLIENT_SPAN_ID:016x}-01"

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
def _tracing_in_this_process() -> Iterator[None]:
    # The global provider can be set once per process; later modules' spans are then dropped.
    trace.set_tracer_provider(_provider())
    yield
    _EXPORTER.shutdown()


def _provider() -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    return provider


@pytest.fixture
def spans(_tracing_in_this_process: None) -> Iterator[InMemorySpanExporter]:
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def _span(spans: InMemorySpanExporter, name: str) -> ReadableSpan:
    [span] = [s for s in spans.get_finished_spans() if s.name == name]
    return span


def _ancestors(spans: InMemorySpanExporter, span: ReadableSpan) -> list[int]:
    """The span ids from `span`'s parent up to the root (the client's, not recorded here)."""
    by_id = {s.context.span_id: s for s in spans.get_finished_spans()}
    ancestors: list[int] = []
    parent = span.parent
    while parent is not None:
        ancestors.append(parent.span_id)
        parent = by_id[parent.span_id].parent if parent.span_id in by_id else None
    return ancestors


async def test_each_hop_is_a_child_of_the_one_before_down_to_the_model_server(
    configured: Gateway, spans: InMemorySpanExporter
) -> None:
    await complete(configured, traceparent=TRACEPARENT)

    names = (
        "POST /v2/code/completions",
        "aigw.router.v1.RouterService/StreamComplete",
        "aigw.modelproxy.v1.ModelProxyService/StreamGenerate",
    )
    await eventually(
        lambda: {s.name for s in spans.get_finished_spans()} >= set(names), timeout_s=5
    )
    shim, router, proxy = (_span(spans, name) for name in names)
    for span in (shim, router, proxy):
        assert span.context.trace_id == TRACE_ID, span.name
        assert span.kind is trace.SpanKind.SERVER
    assert _ancestors(spans, shim) == [CLIENT_SPAN_ID]
    # FastAPI's own endpoint span sits between the shim's request span and the router's.
    assert shim.context.span_id in _ancestors(spans, router)
    assert _ancestors(spans, proxy)[0] == router.context.span_id
    assert router.attributes is not None
    assert router.attributes["rpc.grpc.status_code"] == 0

    [record] = configured.records()
    _, trace_id, parent_id, _ = record["traceparent"].split("-")
    assert int(trace_id, 16) == TRACE_ID
    assert int(parent_id, 16) == proxy.context.span_id


async def test_a_failed_call_marks_its_span(gateway: Gateway, spans: InMemorySpanExporter) -> None:
    # No model is assigned: the router refuses with FAILED_PRECONDITION.
    await gateway.http.post(
        "/v2/code/completions",
        json=COMPLETION_BODY,
        headers={**gateway.headers("complete_code"), "traceparent": TRACEPARENT},
    )
    name = "aigw.router.v1.RouterService/StreamComplete"
    await eventually(lambda: any(s.name == name for s in spans.get_finished_spans()), timeout_s=5)
    router = _span(spans, name)
    assert router.status.status_code is trace.StatusCode.ERROR
    assert router.status.description == "FAILED_PRECONDITION"


def test_nothing_is_exported_without_an_endpoint() -> None:
    assert configure_tracing(TracingSettings(), "router_svc") is None


async def test_spans_go_to_the_configured_otlp_endpoint() -> None:
    received: list[ExportTraceServiceRequest] = []
    collector = FastAPI()

    @collector.post("/v1/traces")
    async def traces(request: Request) -> Response:
        received.append(ExportTraceServiceRequest.FromString(await request.body()))
        return Response(status_code=200)

    async with served(collector) as url:
        provider = exporting_provider(
            TracingSettings(otlp_endpoint=f"{url}/v1/traces"), "router_svc"
        )
        assert provider is not None
        with provider.get_tracer("test").start_as_current_span("one hop"):
            pass
        # The exporter blocks; the collector answers on this event loop.
        assert await asyncio.to_thread(provider.force_flush, 5000)
        await asyncio.to_thread(provider.shutdown)

    [export] = received
    [resource_spans] = export.resource_spans
    attributes: dict[str, Any] = {
        a.key: a.value.string_value for a in resource_spans.resource.attributes
    }
    assert attributes["service.name"] == "router_svc"
    assert [s.name for s in resource_spans.scope_spans[0].spans] == ["one hop"]
