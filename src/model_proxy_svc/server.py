"""model_proxy_svc's process: build the gRPC server, serve until signalled, close the pools."""

from __future__ import annotations

from functools import partial

import grpc
from grpc_health.v1 import health as grpc_health

from aigw.modelproxy.v1 import model_proxy_service_pb2 as pb
from aigw.modelproxy.v1 import model_proxy_service_pb2_grpc as pb_grpc
from aigw_common.grpc_server import build_grpc_server, run_service, serve_grpc
from aigw_common.interceptors.service_auth import ServiceAuth, any_method
from aigw_common.internal_auth import auth_svc_keys
from aigw_common.scopes import SERVICE
from aigw_common.secrets_box import SecretsBox, load_sealing_key
from aigw_common.settings import Settings
from aigw_common.tls import outbound_verify
from aigw_common.token_verifier import TokenVerifier
from model_proxy_svc.bedrock_clients import BedrockClients
from model_proxy_svc.clients import HttpClients
from model_proxy_svc.limits import Admission
from model_proxy_svc.servicer import ModelProxyServicer
from model_proxy_svc.shared_limits import SharedConcurrencyLimiter
from model_proxy_svc.upstream_log import UpstreamLog

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ModelProxyService"].full_name
_DOMAIN = "model_proxy_svc"


async def build_server(
    settings: Settings,
    health: grpc_health.aio.HealthServicer | None = None,
    *,
    clients: HttpClients,
    secrets: SecretsBox | None = None,
    bedrock: BedrockClients | None = None,
    auth: ServiceAuth,
    limiter: Admission | None = None,
) -> tuple[grpc.aio.Server, int]:
    """The bound, not yet started server. The caller owns `clients` and `bedrock` and closes
    them after the server stops; `secrets` defaults to the configured sealing key; without
    `bedrock` the server makes its own (its threads start only when a Bedrock model is used,
    and end with the process). `auth` admits callers holding `aigw_service`.
    """
    section = settings.model_proxy
    if secrets is None:
        secrets = SecretsBox(load_sealing_key(settings))
    if bedrock is None:
        bedrock = _bedrock_clients(settings)
    servicer = ModelProxyServicer(section, clients, secrets, bedrock, limiter)
    return await build_grpc_server(
        section,
        settings.tls,
        service_name=SERVICE_NAME,
        domain=_DOMAIN,
        register=partial(pb_grpc.add_ModelProxyServiceServicer_to_server, servicer),
        health_servicer=health,
        # Inside authentication: a refused caller is not an upstream error.
        plugs=[*auth.guards(any_method(SERVICE), "model_proxy_svc"), UpstreamLog()],
    )


async def serve(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT, then drain and close every upstream connection."""
    clients = HttpClients(settings.model_proxy, verify=outbound_verify(settings.tls))
    bedrock = _bedrock_clients(settings)
    # With Redis, model limits hold across every replica; else per process.
    shared = SharedConcurrencyLimiter(settings.redis) if settings.redis.url is not None else None
    try:
        secrets = SecretsBox(load_sealing_key(settings))
        async with auth_svc_keys(settings) as keys:
            await serve_grpc(
                lambda health_servicer: build_server(
                    settings,
                    health_servicer,
                    clients=clients,
                    secrets=secrets,
                    bedrock=bedrock,
                    auth=ServiceAuth(TokenVerifier(keys, settings.auth)),
                    limiter=shared,
                ),
                name="model_proxy_svc",
                section=settings.model_proxy,
                service_name=SERVICE_NAME,
                # Every call needs a verified token: SERVING once auth_svc's keys are cached.
                serving_once=keys.wait_ready(),
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
    run_service(
        serve,
        name="model_proxy_svc",
        metrics_name="model_proxy",
        # httpx logs every upstream request at INFO and botocore its credential lookups and
        # retries: on the hot path that is noise, not signal.
        quiet_loggers=("httpx", "botocore"),
    )
