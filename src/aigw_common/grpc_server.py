"""The lifecycle every aigw gRPC service shares: start the process, build, serve, report health,
drain on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from aigw_common.event_loop import use_uvloop
from aigw_common.interceptors import CallLifecycle, RequestContext, ServerMetrics, ServerTracing
from aigw_common.interceptors.lifecycle import Plug
from aigw_common.log_setup import configure_logging
from aigw_common.metrics import serve_metrics
from aigw_common.settings import GrpcServiceSettings, Settings, TlsSettings
from aigw_common.tls import server_credentials
from aigw_common.tracing import configure_tracing

_log = structlog.get_logger(__name__)

OVERALL_HEALTH = ""
# Health names probes ask for. Liveness: the process serves gRPC at all (SERVING from start to
# stop, draining included: restarting a draining or not-yet-ready pod helps nobody). Readiness:
# it should get calls (the same as "" and each service's name: SERVING once ready, NOT_SERVING
# from the moment it starts draining).
LIVENESS = "liveness"
READINESS = "readiness"


def create_server(
    settings: GrpcServiceSettings,
    *,
    domain: str,
    plugs: Sequence[Plug] = (),
    options: Sequence[tuple[str, int]] = (),
) -> grpc.aio.Server:
    """A grpc.aio server with aigw's call lifecycle, message limits and keepalive policy.

    `plugs` (access logs, authentication) run after the shared ones (metrics, request
    context, tracing), in order; the errors they raise are mapped like any other. `options`
    add to (or override) the shared channel arguments.
    """
    shared = [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        # Clients ping idle channels every 30 s (see channels.py); allow that without GOAWAY.
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        # On Linux, several processes may share a port; scaling out a CPU-bound service is then
        # a matter of starting more of them.
        ("grpc.so_reuseport", 1),
        # A burst of new streams (2,000 editors reconnecting) waits in gRPC's queue of calls
        # not yet taken by the server loop; past 1,000 gRPC starts refusing them at random.
        ("grpc.server.max_pending_requests", 10_000),
        ("grpc.server.max_pending_requests_hard_limit", 20_000),
        # Clients re-resolve when a connection ends: aged connections spread calls over
        # replicas added since; streams in flight get the grace to finish.
        ("grpc.max_connection_age_ms", int(settings.max_connection_age_s * 1000)),
        ("grpc.max_connection_age_grace_ms", int(settings.max_connection_age_grace_s * 1000)),
    ]
    return grpc.aio.server(
        interceptors=server_interceptors(domain, plugs),
        options=[*shared, *options],
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )


def server_interceptors(domain: str, plugs: Sequence[Plug]) -> list[grpc.aio.ServerInterceptor]:
    """Every aigw server's interceptors: one call lifecycle with the shared plugs, then `plugs`."""
    return [CallLifecycle(domain, [ServerMetrics(), RequestContext(), ServerTracing(), *plugs])]


async def build_grpc_server(
    section: GrpcServiceSettings,
    tls: TlsSettings,
    *,
    service_name: str,
    domain: str,
    register: Callable[[grpc.aio.Server], None],
    health_servicer: health.aio.HealthServicer | None = None,
    plugs: Sequence[Plug] = (),
    options: Sequence[tuple[str, int]] = (),
) -> tuple[grpc.aio.Server, int]:
    """A service's server, bound but not started: `register` adds its servicer; health (NOT_SERVING
    until `serve_until_signalled` says otherwise) and, if the settings ask, reflection are added."""
    server = create_server(section, domain=domain, plugs=plugs, options=options)
    register(server)
    await add_standard_services(
        server,
        health_servicer or health.aio.HealthServicer(),
        [service_name],
        reflection_enabled=section.reflection,
    )
    return server, bind(server, section, tls)


async def add_standard_services(
    server: grpc.aio.Server,
    health_servicer: health.aio.HealthServicer,
    service_names: Sequence[str],
    *,
    reflection_enabled: bool,
) -> None:
    """Register the health service (NOT_SERVING until `set_serving`) and, if asked, reflection."""
    # The servicer reports "" as SERVING from birth; a load balancer must not believe that
    # before the service is ready.
    await set_serving(health_servicer, service_names, serving=False)
    await health_servicer.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if reflection_enabled:
        reflection.enable_server_reflection(
            [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )


async def set_serving(
    health_servicer: health.aio.HealthServicer, service_names: Sequence[str], serving: bool
) -> None:
    """Report every service name and the overall server as SERVING or NOT_SERVING."""
    status = (
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    for name in (OVERALL_HEALTH, READINESS, *service_names):
        await health_servicer.set(name, status)


def bind(
    server: grpc.aio.Server, settings: GrpcServiceSettings, tls: TlsSettings | None = None
) -> int:
    """Listen on the settings' address (port 0 picks a free port) and return the bound port;
    with `tls` enabled the port speaks only TLS."""
    credentials = server_credentials(tls)
    port: int = (
        server.add_secure_port(settings.listen_address, credentials)
        if credentials is not None
        else server.add_insecure_port(settings.listen_address)
    )
    if port == 0:
        raise OSError(f"cannot listen on {settings.listen_address}")
    return port


async def serve_until_signalled(
    server: grpc.aio.Server,
    health_servicer: health.aio.HealthServicer,
    *,
    name: str,
    port: int,
    settings: GrpcServiceSettings,
    service_names: Sequence[str],
    on_draining: Callable[[], None] | None = None,
    serving_once: Awaitable[object] | None = None,
) -> None:
    """Run a started server until SIGTERM or SIGINT, then drain it.

    `service_names` (and "") are reported SERVING at once, or with `serving_once` once it
    completes: e.g. once the keys to verify callers' tokens are cached, as every call is
    refused until then. On the signal, readiness ("", "readiness", `service_names`) goes
    NOT_SERVING first (liveness stays SERVING to the end), and new calls are still taken for
    the settings' `drain_delay_s` while load balancers notice; then in-flight calls get
    `grace_period_s` to finish before they are cancelled. `on_draining` runs just before, to
    end calls that would otherwise never finish (watches). With a `health_port`, the health
    service also answers there, in plaintext, for probes that cannot speak TLS.
    """
    health_server = await _start_health_server(health_servicer, settings)
    readiness = asyncio.create_task(
        _serving_once(health_servicer, service_names, serving_once or asyncio.sleep(0))
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _log.info("serving", service=name, port=port)
    waiter = asyncio.create_task(server.wait_for_termination())
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        readiness.cancel()
    _log.info(
        "draining",
        service=name,
        drain_delay_s=settings.drain_delay_s,
        grace_period_s=settings.grace_period_s,
    )
    await set_serving(health_servicer, service_names, serving=False)
    if settings.drain_delay_s and not waiter.done():
        await asyncio.wait({waiter}, timeout=settings.drain_delay_s)
    if on_draining is not None:
        on_draining()
    await server.stop(settings.grace_period_s)
    await waiter
    if health_server is not None:
        await health_server.stop(None)
    _log.info("stopped", service=name)


async def serve_grpc(
    build: Callable[[health.aio.HealthServicer], Awaitable[tuple[grpc.aio.Server, int]]],
    *,
    name: str,
    section: GrpcServiceSettings,
    service_name: str,
    started: Callable[[], Awaitable[None]] | None = None,
    serving_once: Awaitable[object] | None = None,
    on_draining: Callable[[], None] | None = None,
) -> None:
    """Build a service's server around a fresh health servicer, start it, run `started` (work
    that needs the port open, e.g. background fetches), then serve until signalled (see
    `serve_until_signalled`)."""
    health_servicer = health.aio.HealthServicer()
    server, port = await build(health_servicer)
    await server.start()
    if started is not None:
        await started()
    await serve_until_signalled(
        server,
        health_servicer,
        name=name,
        port=port,
        settings=section,
        service_names=[service_name],
        on_draining=on_draining,
        serving_once=serving_once,
    )


async def _start_health_server(
    health_servicer: health.aio.HealthServicer, settings: GrpcServiceSettings
) -> grpc.aio.Server | None:
    if settings.health_port is None:
        return None
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"{settings.bind}:{settings.health_port}"
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot listen on {address} (health port)")
    await server.start()
    _log.info("health port", address=address)
    return server


async def _serving_once(
    health_servicer: health.aio.HealthServicer,
    service_names: Sequence[str],
    ready: Awaitable[object],
) -> None:
    await ready
    await set_serving(health_servicer, service_names, True)
    _log.info("ready")


def run_service(
    serve: Callable[[Settings], Coroutine[Any, Any, None]],
    *,
    name: str,
    metrics_name: str,
    quiet_loggers: Sequence[str] = (),
) -> None:
    """A service process from start to exit: uvloop, settings from the environment, logging,
    tracing and the metrics listener (`metrics_name`: its port setting), then `serve` until it
    returns (on SIGTERM/SIGINT). `quiet_loggers` log warnings and errors only."""
    use_uvloop()
    settings = Settings()
    configure_logging(settings.logging, name)
    configure_tracing(settings.tracing, name)
    for logger in quiet_loggers:
        logging.getLogger(logger).setLevel(logging.WARNING)
    metrics_server = serve_metrics(settings.metrics, metrics_name)
    try:
        asyncio.run(serve(settings))
    finally:
        if metrics_server is not None:
            metrics_server.close()
