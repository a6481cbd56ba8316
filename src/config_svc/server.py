"""Build and run the config service: SQLite store, sealing key, token checks, gRPC server."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health

from aigw.config.v1 import config_service_pb2, config_service_pb2_grpc
from aigw_common.grpc_server import (
    add_standard_services,
    bind,
    create_server,
    serve_until_signalled,
)
from aigw_common.interceptors.service_auth import ServiceAuthInterceptor
from aigw_common.internal_auth import auth_svc_keys
from aigw_common.log_setup import configure_logging
from aigw_common.metrics import serve_metrics
from aigw_common.secrets_box import SecretsBox, load_sealing_key
from aigw_common.settings import Settings
from aigw_common.token_verifier import TokenVerifier
from aigw_common.tracing import configure_tracing
from config_svc.authorization import required_scopes
from config_svc.broadcast import SnapshotBroadcast
from config_svc.change_feed import ChangeFeed
from config_svc.servicer import ConfigServiceServicer
from config_svc.store import ConfigStore

SERVICE_NAME = config_service_pb2.DESCRIPTOR.services_by_name["ConfigService"].full_name
# ErrorInfo.domain for every error this service reports.
ERROR_DOMAIN = "config_svc.aigw"


async def open_store(settings: Settings) -> ConfigStore:
    """The configuration database: PostgreSQL at AIGW_DATABASE__URL, else SQLite in the data
    directory; migrated first unless AIGW_DATABASE__MIGRATE_ON_START=false."""
    return await ConfigStore.open_database(
        settings.database,
        settings.config_db_path,
        migrate_first=settings.database.migrate_on_start,
    )


async def open_secrets_box(settings: Settings) -> SecretsBox:
    """The box that seals API keys (AIGW_CREDENTIALS_KEY, or a key file made on first start)."""
    return SecretsBox(await asyncio.to_thread(load_sealing_key, settings))


async def build_server(
    settings: Settings,
    health_servicer: health.aio.HealthServicer | None = None,
    *,
    store: ConfigStore,
    box: SecretsBox,
    broadcast: SnapshotBroadcast | None = None,
    verifier: TokenVerifier | None = None,
) -> tuple[grpc.aio.Server, int]:
    """A bound, not yet started server for ConfigService over `store`.

    With a `verifier` (of aigw's own tokens), every call needs a token with the method's scope
    (see authorization.py); `serve` always passes one. Without, calls are not authenticated:
    for in-process tests only.
    """
    section = settings.config_svc
    interceptors = []
    if verifier is not None:
        interceptors.append(ServiceAuthInterceptor(verifier, required_scopes))
    server = create_server(section, domain=ERROR_DOMAIN, interceptors=interceptors)
    broadcast = broadcast or SnapshotBroadcast(await store.load_snapshot())
    servicer = ConfigServiceServicer(store, broadcast, box)
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
        async with auth_svc_keys(settings) as keys:
            health_servicer = health.aio.HealthServicer()
            broadcast = SnapshotBroadcast(await store.load_snapshot())
            feed = ChangeFeed(store, broadcast, settings.database)
            feed.start()
            server, port = await build_server(
                settings,
                health_servicer,
                store=store,
                box=box,
                broadcast=broadcast,
                verifier=TokenVerifier(keys, settings.auth),
            )
            await server.start()
            try:
                await serve_until_signalled(
                    server,
                    health_servicer,
                    name="config_svc",
                    port=port,
                    settings=settings.config_svc,
                    on_draining=broadcast.close,
                    # Every call needs a verified token: SERVING once auth_svc's keys are cached.
                    serving_once=keys.wait_ready(),
                    service_names=[SERVICE_NAME],
                )
            finally:
                await feed.stop()
    finally:
        await store.close()


def main() -> None:
    settings = Settings()
    configure_logging(settings.logging, "config_svc")
    configure_tracing(settings.tracing, "config_svc")
    metrics_server = serve_metrics(settings.metrics, "config_svc")
    try:
        asyncio.run(serve(settings))
    finally:
        if metrics_server is not None:
            metrics_server.close()
