"""model_proxy_svc's process: build the gRPC server, serve until signalled, close the pools."""

from __future__ import annotations

import asyncio
import logging

import grpc
from grpc_health.v1 import health as grpc_health

from aigw.modelproxy.v1 import model_proxy_service_pb2 as pb
from aigw.modelproxy.v1 import model_proxy_service_pb2_grpc as pb_grpc
from aigw_common.grpc_server import (
    add_standard_services,
    bind,
    create_server,
    serve_until_signalled,
    set_serving,
)
from aigw_common.internal_auth import service_auth_interceptor
from aigw_common.log_setup import configure_logging
from aigw_common.secrets_box import SecretsBox, load_sealing_key
from aigw_common.service_token import SERVICE_SCOPE
from aigw_common.settings import Settings
from aigw_common.tls import outbound_verify
from model_proxy_svc.clients import HttpClients
from model_proxy_svc.servicer import ModelProxyServicer

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ModelProxyService"].full_name
_DOMAIN = "model_proxy_svc"


async def build_server(
    settings: Settings,
    health: grpc_health.aio.HealthServicer | None = None,
    *,
    clients: HttpClients,
    secrets: SecretsBox | None = None,
    service_auth: grpc.aio.ServerInterceptor | None = None,
) -> tuple[grpc.aio.Server, int]:
    """The bound, not yet started server. The caller owns `clients` and closes them after the
    server stops; `secrets` defaults to the configured sealing key. `serve()` always passes
    `service_auth` (only aigw's services may call)."""
    section = settings.model_proxy
    if secrets is None:
        secrets = SecretsBox(load_sealing_key(settings))
    server = create_server(
        section, domain=_DOMAIN, interceptors=[service_auth] if service_auth else []
    )
    pb_grpc.add_ModelProxyServiceServicer_to_server(
        ModelProxyServicer(section, clients, secrets), server
    )
    await add_standard_services(
        server,
        health or grpc_health.aio.HealthServicer(),
        [SERVICE_NAME],
        reflection_enabled=section.reflection,
    )
    port = bind(server, section, settings.tls)
    return server, port


async def serve(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT, then drain and close every upstream connection."""
    health_servicer = grpc_health.aio.HealthServicer()
    clients = HttpClients(settings.model_proxy, verify=outbound_verify(settings.tls))
    try:
        secrets = SecretsBox(load_sealing_key(settings))
        async with service_auth_interceptor(settings, [SERVICE_SCOPE]) as service_auth:
            server, port = await build_server(
                settings,
                health_servicer,
                clients=clients,
                secrets=secrets,
                service_auth=service_auth,
            )
            await server.start()
            await set_serving(health_servicer, [SERVICE_NAME], True)
            await serve_until_signalled(
                server,
                health_servicer,
                name="model_proxy_svc",
                port=port,
                grace_period_s=settings.model_proxy.grace_period_s,
            )
    finally:
        await clients.aclose()


def main() -> None:
    settings = Settings()
    configure_logging(settings.logging, "model_proxy_svc")
    # httpx logs every upstream request at INFO; on the hot path that is noise, not signal.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(serve(settings))
