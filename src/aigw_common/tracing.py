"""OpenTelemetry traces across hops: W3C `traceparent` in and out, OTLP export when configured.

Every service continues the trace its caller sent (HTTP headers at the REST shim, gRPC metadata
at each gRPC service) and sends it on (gRPC metadata to the next service, HTTP headers to the
model server). Spans are recorded and exported only when AIGW_TRACING__OTLP_ENDPOINT is set:
otherwise OpenTelemetry's API is a no-op that still carries the caller's trace context on, and
nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from aigw_common.settings import TracingSettings

_TRACER_NAME = "aigw"


def configure_tracing(settings: TracingSettings, service: str) -> TracerProvider | None:
    """Export this process's spans over OTLP/HTTP when an endpoint is configured.

    Returns the provider (it flushes at exit), or None when tracing stays off.
    """
    provider = exporting_provider(settings, service)
    if provider is not None:
        trace.set_tracer_provider(provider)
    return provider


def exporting_provider(settings: TracingSettings, service: str) -> TracerProvider | None:
    """A tracer provider exporting over OTLP/HTTP, or None without an endpoint."""
    if settings.otlp_endpoint is None:
        return None
    # Imported here: the exporter is only needed when spans leave the process.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=settings.otlp_endpoint, timeout=settings.export_timeout_s)
        )
    )
    return provider


def tracer() -> trace.Tracer:
    return trace.get_tracer(_TRACER_NAME)


@contextmanager
def server_span(name: str, carrier: Mapping[str, str]) -> Iterator[trace.Span]:
    """A SERVER span for one incoming call, a child of the trace context in `carrier`, current
    while the call runs. The caller sets the status from the gRPC code the call ended with.

    A streaming call's generator may be closed from another task (gRPC closes it when the
    caller cancels); the span's context is then not current there and is left alone, instead
    of OpenTelemetry's "Failed to detach context" traceback for an expected cancellation."""
    parent = propagate.extract(carrier)
    span = tracer().start_span(name, context=parent, kind=trace.SpanKind.SERVER)
    current = trace.set_span_in_context(span, parent)
    token = otel_context.attach(current)
    try:
        yield span
    finally:
        span.end()
        if otel_context.get_current() is current:
            otel_context.detach(token)


def outgoing_headers() -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`, `tracestate`) for a call out."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier
