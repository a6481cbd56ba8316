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
)
from aigw_common.interceptors.service_auth import ServiceAuthInterceptor, any_method
from aigw_common.internal_auth import auth_svc_keys
from aigw_common.log_setup import configure_logging
from aigw_common.metrics import serve_metrics
from aigw_common.scopes import SERVICE
from aigw_common.secrets_box import SecretsBox, load_sealing_key
from aigw_common.settings import Settings
from aigw_common.tls import outbound_verify
from aigw_common.token_verifier import TokenVerifier
from aigw_common.tracing import configure_tracing
from model_proxy_svc.bedrock_clients import BedrockClients
from model_proxy_svc.clients import HttpClients
from model_proxy_svc.limits import Admission
from model_proxy_svc.servicer import ModelProxyServicer
from model_proxy_svc.shared_limits import SharedConcurrencyLimiter
from model_proxy_svc.upstream_log import UpstreamLogInterceptor

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ModelProxyService"].full_name
_DOMAIN = "model_proxy_svc"


async def build_server(
    settings: Settings,
    health: grpc_health.aio.HealthServicer | None = None,
    *,
    clients: HttpClients,
    secrets: SecretsBox | None = None,
    bedrock: BedrockClients | None = None,
    verifier: TokenVerifier | None = None,
    limiter: Admission | None = None,
) -> tuple[grpc.aio.Server, int]:
    """The bound, not yet started server. The caller owns `clients` and `bedrock` and closes
    them after the server stops; `secrets` defaults to the configured sealing key; without
    `bedrock` the server makes its own (its threads start only when a Bedrock model is used,
    and end with the process). With a `verifier` (of aigw's own tokens) only callers holding
    `aigw_service` are admitted; `serve` always passes one, tests may leave it out.
    """
    section = settings.model_proxy
    if secrets is None:
        secrets = SecretsBox(load_sealing_key(settings))
    if bedrock is None:
        bedrock = _bedrock_clients(settings)
    interceptors: list[grpc.aio.ServerInterceptor] = []
    if verifier is not None:
        interceptors.append(ServiceAuthInterceptor(verifier, any_method(SERVICE)))
    # Inside authentication: a refused caller is not an upstream error.
    interceptors.append(UpstreamLogInterceptor())
    server = create_server(section, domain=_DOMAIN, interceptors=interceptors)
    pb_grpc.add_ModelProxyServiceServicer_to_server(
        ModelProxyServicer(section, clients, secrets, bedrock, limiter), server
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
    bedrock = _bedrock_clients(settings)
    # With Redis, model limits hold across every replica; else per process.
    shared = SharedConcurrencyLimiter(settings.redis) if settings.redis.url is not None else None
    try:
        secrets = SecretsBox(load_sealing_key(settings))
        async with auth_svc_keys(settings) as keys:
            server, port = await build_server(
                settings,
                health_servicer,
                clients=clients,
                secrets=secrets,
                bedrock=bedrock,
                verifier=TokenVerifier(keys, settings.auth),
                limiter=shared,
            )
            await server.start()
            await serve_until_signalled(
                server,
                health_servicer,
                name="model_proxy_svc",
                port=port,
                settings=settings.model_proxy,
                # Every call needs a verified token: SERVING once auth_svc's keys are cached.
                serving_once=keys.wait_ready(),
                service_names=[SERVICE_NAME],
            )
    finally:
        await clients.aclose()
        await bedrock.aclose()
        if shared is not None:
            await shared.aclose()


def _bedrock_clients(settings: Settings) -> BedrockClients:
    return BedrockClients(
        settings.model_proxy,
        settings.aws_bedrock_runtime_endpoint,
        ca_bundle=settings.tls.outbound_ca_bundle,
    )


def main() -> None:
    settings = Settings()
    configure_logging(settings.logging, "model_proxy_svc")
    configure_tracing(settings.tracing, "model_proxy_svc")
    # httpx logs every upstream request at INFO; on the hot path that is noise, not signal.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # botocore logs credential lookups and retries at INFO; same reasoning.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    metrics_server = serve_metrics(settings.metrics, "model_proxy")
    try:
        asyncio.run(serve(settings))
    finally:
        if metrics_server is not None:
            metrics_server.close()
