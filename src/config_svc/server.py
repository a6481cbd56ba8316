"""Build and run the config service: SQLite store, sealing key, gRPC server, health."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health

from aigw.config.v1 import config_service_pb2, config_service_pb2_grpc
from aigw_common.grpc_server import (
    add_standard_services,
    bind,
    create_server,
    serve_until_signalled,
    set_serving,
)
from aigw_common.interceptors.service_auth import require_caller_scope
from aigw_common.internal_auth import service_auth_interceptor
from aigw_common.log_setup import configure_logging
from aigw_common.secrets_box import SecretsBox, load_sealing_key
from aigw_common.service_token import ADMIN_SCOPE, SERVICE_SCOPE
from aigw_common.settings import Settings
from config_svc.broadcast import SnapshotBroadcast
from config_svc.servicer import ChangeAuthorizer, ConfigServiceServicer
from config_svc.store import DB_FILENAME, ConfigStore

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context

SERVICE_NAME = config_service_pb2.DESCRIPTOR.services_by_name["ConfigService"].full_name
# ErrorInfo.domain for every error this service reports.
ERROR_DOMAIN = "config_svc.aigw"


async def open_store(settings: Settings) -> ConfigStore:
    """The configuration database in the data directory, created and migrated as needed."""
    return await ConfigStore.open(settings.data_dir / DB_FILENAME)


async def open_secrets_box(settings: Settings) -> SecretsBox:
    """The box that seals API keys (AIGW_CREDENTIALS_KEY, or a key file made on first start)."""
    return SecretsBox(await asyncio.to_thread(load_sealing_key, settings))


async def build_server(
    settings: Settings,
    health_servicer: health.aio.HealthServicer | None = None,
    *,
    store: ConfigStore,
    box: SecretsBox,
    authorize_change: ChangeAuthorizer | None = None,
    broadcast: SnapshotBroadcast | None = None,
    service_auth: grpc.aio.ServerInterceptor | None = None,
) -> tuple[grpc.aio.Server, int]:
    """A bound, not yet started server for ConfigService over `store`. `serve()` always passes
    `service_auth` (only aigw's services and administrators may call)."""
    section = settings.config_svc
    server = create_server(
        section, domain=ERROR_DOMAIN, interceptors=[service_auth] if service_auth else []
    )
    broadcast = broadcast or SnapshotBroadcast(await store.load_snapshot())
    servicer = ConfigServiceServicer(store, broadcast, box, authorize_change=authorize_change)
    config_service_pb2_grpc.add_ConfigServiceServicer_to_server(servicer, server)
    await add_standard_services(
        server,
        health_servicer or health.aio.HealthServicer(),
        [SERVICE_NAME],
        reflection_enabled=section.reflection,
    )
    port = bind(server, section, settings.tls)
    return server, port


async def serve(settings: Settings) -> None:
    """Run config_svc until SIGTERM or SIGINT."""
    box = await open_secrets_box(settings)
    store = await open_store(settings)
    try:
        async with service_auth_interceptor(settings, [SERVICE_SCOPE, ADMIN_SCOPE]) as auth:
            health_servicer = health.aio.HealthServicer()
            broadcast = SnapshotBroadcast(await store.load_snapshot())
            server, port = await build_server(
                settings,
                health_servicer,
                store=store,
                box=box,
                broadcast=broadcast,
                service_auth=auth,
                authorize_change=authorize_admin_change,
            )
            await server.start()
            await set_serving(health_servicer, [SERVICE_NAME], True)
            await serve_until_signalled(
                server,
                health_servicer,
                name="config_svc",
                port=port,
                grace_period_s=settings.config_svc.grace_period_s,
                on_draining=broadcast.close,
            )
    finally:
        await store.close()


async def authorize_admin_change(context: Context) -> None:
    """Services read and watch the configuration; only administrators change it."""
    require_caller_scope(ADMIN_SCOPE)


def main() -> None:
    settings = Settings()
    configure_logging(settings.logging, "config_svc")
    asyncio.run(serve(settings))
