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
from aigw_common.log_setup import configure_logging
from aigw_common.secrets_box import SecretsBox, load_or_create_key
from aigw_common.settings import Settings
from model_proxy_svc.bedrock_clients import BedrockClients
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
    bedrock: BedrockClients | None = None,
) -> tuple[grpc.aio.Server, int]:
    """The bound, not yet started server. The caller owns `clients` and `bedrock` and closes
    them after the server stops; `secrets` defaults to the key at `settings.sealing_key_path`;
    without `bedrock` the server makes its own (its threads start only when a Bedrock model is
    used, and end with the process)."""
    section = settings.model_proxy
    if secrets is None:
        secrets = SecretsBox(load_or_create_key(settings.sealing_key_path))
    if bedrock is None:
        bedrock = BedrockClients(section, settings.aws_bedrock_runtime_endpoint)
    server = create_server(section, domain=_DOMAIN)
    pb_grpc.add_ModelProxyServiceServicer_to_server(
        ModelProxyServicer(section, clients, secrets, bedrock), server
    )
    await add_standard_services(
        server,
        health or grpc_health.aio.HealthServicer(),
        [SERVICE_NAME],
        reflection_enabled=section.reflection,
    )
    port = bind(server, section)
    return server, port


async def serve(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT, then drain and close every upstream connection."""
    health_servicer = grpc_health.aio.HealthServicer()
    clients = HttpClients(settings.model_proxy)
    bedrock = BedrockClients(settings.model_proxy, settings.aws_bedrock_runtime_endpoint)
    try:
        secrets = SecretsBox(load_or_create_key(settings.sealing_key_path))
        server, port = await build_server(
            settings, health_servicer, clients=clients, secrets=secrets, bedrock=bedrock
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
        await bedrock.aclose()


def main() -> None:
    settings = Settings()
    configure_logging(settings.logging, "model_proxy_svc")
    # httpx logs every upstream request at INFO; on the hot path that is noise, not signal.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # botocore logs credential lookups and retries at INFO; same reasoning.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    asyncio.run(serve(settings))
