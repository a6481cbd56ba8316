"""Prometheus metrics for every aigw process, and the HTTP listener that serves them.

Names follow the OpenTelemetry GenAI semantic conventions where one exists
(`gen_ai.server.time_to_first_token` -> `gen_ai_server_time_to_first_token_seconds`,
`gen_ai.client.token.usage` -> `gen_ai_client_token_usage`), and GitLab's AI gateway names
(`model_inferences_total`, `inference_request_duration_seconds`) where its dashboards expect
them. Each process registers only the metrics it updates, in prometheus_client's default
registry; every update happens once per request, never per chunk.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

import prometheus_client
import structlog
from prometheus_client import Counter, Gauge, Histogram

from aigw_common.platforms import platform_name
from aigw_common.settings import MetricsSettings

_log = structlog.get_logger(__name__)

# Latency buckets (seconds) spanning a fast completion's first token to a long chat answer.
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# The OpenTelemetry GenAI convention's advisory buckets for token counts.
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)

_INFERENCE_LABELS = ("feature", "model", "provider", "status")

# --- router_svc: one observation per completion -------------------------------------------
MODEL_INFERENCES = Counter(
    "model_inferences_total",
    "Completions served, by feature, model, provider and final status.",
    _INFERENCE_LABELS,
)
INFERENCE_DURATION = Histogram(
    "inference_request_duration_seconds",
    "Time from receiving a completion request to its last chunk.",
    _INFERENCE_LABELS,
    buckets=_LATENCY_BUCKETS,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "gen_ai_server_time_to_first_token_seconds",
    "Time from receiving a completion request to its first chunk (OTel GenAI).",
    ("feature", "model", "provider"),
    buckets=_LATENCY_BUCKETS,
)
TOKEN_USAGE = Histogram(
    "gen_ai_client_token_usage",
    "Tokens per completion as the model server reported them (OTel GenAI); "
    "gen_ai_token_type is input or output.",
    ("feature", "model", "provider", "gen_ai_token_type"),
    buckets=_TOKEN_BUCKETS,
)
INFERENCES_IN_FLIGHT = Gauge(
    "model_inferences_in_flight",
    "Completions being served right now.",
    ("feature",),
)

# --- model_proxy_svc: what went wrong upstream ---------------------------------------------
UPSTREAM_ERRORS = Counter(
    "model_upstream_errors_total",
    "Failed calls to model servers, by provider and error type.",
    ("provider", "error_type"),
)

# --- limits shared through Redis (model_proxy_svc's slots, router_svc's rate limits) -------
LIMIT_STORE_FAILURES = Counter(
    "aigw_limit_store_failures_total",
    "Calls to the shared limit store (Redis) that failed, by what was done instead.",
    ("outcome",),
)

# --- every gRPC server (one interceptor) ---------------------------------------------------
GRPC_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by service, method and status code.",
    ("grpc_service", "grpc_method", "grpc_code"),
)
GRPC_HANDLING = Histogram(
    "grpc_server_handling_seconds",
    "Time to complete an RPC on the server (a stream's whole life).",
    ("grpc_service", "grpc_method"),
    buckets=_LATENCY_BUCKETS,
)
GRPC_IN_FLIGHT = Gauge(
    "grpc_server_in_flight",
    "RPCs being handled right now.",
    ("grpc_service", "grpc_method"),
)

# --- rest_shim: one observation per HTTP request --------------------------------------------
HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests served by the REST shim, by route, method and status.",
    ("route", "method", "status"),
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from an HTTP request's arrival to the end of its response body.",
    ("route", "method"),
    buckets=_LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge(
    "http_requests_in_flight",
    "HTTP requests being served right now.",
)


@dataclass
class MetricsServer:
    """prometheus_client's HTTP listener, running in its own thread."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_metrics_server(host: str, port: int, *, service: str) -> MetricsServer:
    """Serve `/metrics` on `host:port` (0 picks a free port) in a background thread."""
    server, thread = prometheus_client.start_http_server(port, addr=host)
    running = MetricsServer(server, thread)
    _log.info("metrics listening", service=service, host=host, port=running.port)
    return running


def serve_metrics(settings: MetricsSettings, service: str) -> MetricsServer | None:
    """Start `service`'s listener (router, auth_svc, config_svc, model_proxy) if enabled."""
    if not settings.enabled:
        return None
    return start_metrics_server(settings.host, settings.port_of(service), service=service)


def provider_label(platform: int) -> str:
    """A platform as a label value: `openai_compatible`, `bedrock`, ...; `unknown` if unnamed."""
    return platform_name(platform) or "unknown"
