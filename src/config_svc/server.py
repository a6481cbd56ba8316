"""Build and run the config service: SQLite store, sealing key, token checks, gRPC server."""

from __future__ import annotations

import asyncio

import grpc
import structlog
from grpc_health.v1 import health

from aigw.config.v1 import config_service_pb2, config_service_pb2_grpc
from aigw_common.channels import open_channel
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
from aigw_common.token_verifier import JwksCache, TokenVerifier
from config_svc.authorization import ConfigAuthorizationInterceptor
from config_svc.broadcast import SnapshotBroadcast
from config_svc.servicer import ChangeAuthorizer, ConfigServiceServicer
from config_svc.store import DB_FILENAME, ConfigStore

SERVICE_NAME = config_service_pb2.DESCRIPTOR.services_by_name["ConfigService"].full_name
# ErrorInfo.domain for every error this service reports.
ERROR_DOMAIN = "config_svc.aigw"

_log = structlog.get_logger(__name__)


async def open_store(settings: Settings) -> ConfigStore:
    """The configuration database in the data directory, created and migrated as needed."""
    return await ConfigStore.open(settings.data_dir / DB_FILENAME)


async def open_secrets_box(settings: Settings) -> SecretsBox:
    """The box that seals API keys, its key file created on first start."""
    return SecretsBox(await asyncio.to_thread(load_or_create_key, settings.sealing_key_path))


async def build_server(
    settings: Settings,
    health_servicer: health.aio.HealthServicer | None = None,
    *,
    store: ConfigStore,
    box: SecretsBox,
    authorize_change: ChangeAuthorizer | None = None,
    broadcast: SnapshotBroadcast | None = None,
    verifier: TokenVerifier | None = None,
) -> tuple[grpc.aio.Server, int]:
    """A bound, not yet started server for ConfigService over `store`.

    With a `verifier`, every call needs a token with the method's scope (see authorization.py);
    `serve` always passes one. Without, calls are not authenticated: for in-process tests only.
    """
    section = settings.config_svc
    interceptors = []
    if verifier is not None:
        interceptors.append(
            ConfigAuthorizationInterceptor(verifier, bypass=settings.auth.bypass_external)
        )
    server = create_server(section, domain=ERROR_DOMAIN, interceptors=interceptors)
    broadcast = broadcast or SnapshotBroadcast(await store.load_snapshot())
    servicer = ConfigServiceServicer(store, broadcast, box, authorize_change=authorize_change)
    config_service_pb2_grpc.add_ConfigServiceServicer_to_server(servicer, server)
    await add_standard_services(
        server,
        health_servicer or health.aio.HealthServicer(),
        [SERVICE_NAME],
        reflection_enabled=section.reflection,
    )
    port = bind(server, section)
    return server, port


async def serve(settings: Settings) -> None:
    """Run config_svc until SIGTERM or SIGINT."""
    box = await open_secrets_box(settings)
    store = await open_store(settings)
    auth_channel = open_channel(
        settings.auth_svc.address,
        retry_methods=[{"service": "aigw.auth.v1.AuthService", "method": "GetJwks"}],
    )
    keys = JwksCache.from_auth_channel(auth_channel, settings.auth)
    readiness: asyncio.Task[None] | None = None
    try:
        health_servicer = health.aio.HealthServicer()
        broadcast = SnapshotBroadcast(await store.load_snapshot())
        server, port = await build_server(
            settings,
            health_servicer,
            store=store,
            box=box,
            broadcast=broadcast,
            verifier=TokenVerifier(keys, settings.auth),
        )
        await server.start()
        await keys.start()
        readiness = asyncio.create_task(
            _report_when_ready(health_servicer, keys, need_keys=not settings.auth.bypass_external)
        )
        await serve_until_signalled(
            server,
            health_servicer,
            name="config_svc",
            port=port,
            grace_period_s=settings.config_svc.grace_period_s,
            on_draining=broadcast.close,
        )
    finally:
        if readiness is not None:
            readiness.cancel()
        await keys.close()
        await auth_channel.close()
        await store.close()


async def _report_when_ready(
    health_servicer: health.aio.HealthServicer, keys: JwksCache, *, need_keys: bool
) -> None:
    """SERVING once tokens can be verified (unless authentication is bypassed)."""
    if need_keys:
        await keys.wait_ready()
    await set_serving(health_servicer, [SERVICE_NAME], True)
    _log.info("ready")


def main() -> None:
    settings = Settings()
    configure_logging(settings.logging, "config_svc")
    asyncio.run(serve(settings))
