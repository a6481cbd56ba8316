"""Builds and runs router_svc."""

from __future__ import annotations

from functools import partial

import grpc
import structlog
from grpc_health.v1 import health

from aigw.router.v1 import router_service_pb2, router_service_pb2_grpc
from aigw_common.channels import open_channel
from aigw_common.grpc_server import build_grpc_server, run_service, serve_grpc
from aigw_common.internal_auth import auth_svc_keys, service_token
from aigw_common.oidc import GitLabIssuers
from aigw_common.service_token import service_token_interceptors
from aigw_common.settings import Settings
from aigw_common.token_verifier import JwksCache, TokenVerifier
from router_svc.access_log import AccessLog
from router_svc.authentication import Authentication, warn_if_bypassed
from router_svc.config_cache import ConfigCache
from router_svc.model_proxy_client import ModelProxyClient
from router_svc.rate_limits import RateLimits
from router_svc.servicer import RouterServicer

SERVICE_NAME = router_service_pb2.DESCRIPTOR.services_by_name["RouterService"].full_name

_log = structlog.get_logger(__name__)

_OTHER_METADATA_BYTES = 8192


async def build_server(
    settings: Settings,
    health_servicer: health.aio.HealthServicer | None = None,
    *,
    config: ConfigCache,
    verifier: TokenVerifier,
    proxy_channel: grpc.aio.Channel,
    rate_limits: RateLimits | None = None,
) -> tuple[grpc.aio.Server, int]:
    """The router's server, bound but not started; the caller reports it SERVING when ready."""
    # gRPC's default 8 KiB metadata limit would refuse a large token with RESOURCE_EXHAUSTED
    # before the verifier could say it is too large; leave room for it and the other headers.
    metadata_limit = settings.auth.max_token_bytes + _OTHER_METADATA_BYTES
    servicer = RouterServicer(
        config,
        ModelProxyClient(proxy_channel),
        default_timeout_s=settings.model_proxy.default_timeout_s,
        custom_models=settings.custom_models,
        rate_limits=rate_limits,
        settings=settings.router,
    )
    return await build_grpc_server(
        settings.router,
        settings.tls,
        service_name=SERVICE_NAME,
        domain=SERVICE_NAME,
        register=partial(router_service_pb2_grpc.add_RouterServiceServicer_to_server, servicer),
        health_servicer=health_servicer,
        plugs=[
            AccessLog(settings.logging, lambda: config.request_logging),
            Authentication(verifier, bypass=settings.auth.bypass_external),
        ],
        options=[
            ("grpc.max_metadata_size", metadata_limit),
            ("grpc.absolute_max_metadata_size", metadata_limit + _OTHER_METADATA_BYTES),
        ],
    )


async def ready_to_serve(config: ConfigCache, keys: JwksCache, *, need_keys: bool) -> None:
    """Return once a configuration has arrived and (unless auth is bypassed) keys are cached."""
    await config.ready.wait()
    if need_keys:
        await keys.wait_ready()
    _log.info("configuration received", config_version=config.version)


async def serve(settings: Settings) -> None:
    warn_if_bypassed(settings.auth.bypass_external)
    tls = settings.tls
    gitlab = GitLabIssuers(settings)
    async with auth_svc_keys(settings) as keys, service_token(settings, "router_svc") as token:
        # Calls to config_svc and model_proxy_svc carry the router's own service token.
        internal = service_token_interceptors(token)
        config_channel = open_channel(settings.config_svc.address, tls=tls, interceptors=internal)
        proxy_channel = open_channel(settings.model_proxy.address, tls=tls, interceptors=internal)
        config = ConfigCache(config_channel)
        rate_limits = RateLimits(settings.rate_limits, settings.redis)

        async def started() -> None:
            await gitlab.start()
            config.start()

        try:
            await serve_grpc(
                lambda health_servicer: build_server(
                    settings,
                    health_servicer,
                    config=config,
                    verifier=TokenVerifier(keys, settings.auth, trusted=gitlab.trusted),
                    proxy_channel=proxy_channel,
                    rate_limits=rate_limits,
                ),
                name="router_svc",
                section=settings.router,
                service_name=SERVICE_NAME,
                started=started,
                serving_once=ready_to_serve(
                    config, keys, need_keys=not settings.auth.bypass_external
                ),
            )
        finally:
            await config.close()
            await gitlab.close()
            await rate_limits.aclose()
            for channel in (config_channel, proxy_channel):
                await channel.close()


def main() -> None:
    run_service(serve, name="router_svc", metrics_name="router")
