"""Build and run the config service: SQLite or PostgreSQL store, sealing key, token checks, gRPC
server, and the feed of changes made through other replicas."""

from __future__ import annotations

import asyncio
from functools import partial

import grpc
from grpc_health.v1 import health

from aigw.config.v1 import config_service_pb2, config_service_pb2_grpc
from aigw_common.grpc_server import build_grpc_server, run_service, serve_grpc
from aigw_common.interceptors.service_auth import ServiceAuth
from aigw_common.internal_auth import auth_svc_keys
from aigw_common.secrets_box import SecretsBox, load_sealing_key
from aigw_common.settings import Settings
from aigw_common.token_verifier import TokenVerifier
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
    auth: ServiceAuth,
) -> tuple[grpc.aio.Server, int]:
    """A bound, not yet started server for ConfigService over `store`; `auth` admits callers
    whose token grants the method's scope (see authorization.py)."""
    broadcast = broadcast or SnapshotBroadcast(await store.load_snapshot())
    servicer = ConfigServiceServicer(store, broadcast, box)
    return await build_grpc_server(
        settings.config_svc,
        settings.tls,
        service_name=SERVICE_NAME,
        domain=ERROR_DOMAIN,
        register=partial(config_service_pb2_grpc.add_ConfigServiceServicer_to_server, servicer),
        health_servicer=health_servicer,
        plugs=auth.guards(required_scopes, "config_svc"),
    )


async def serve(settings: Settings) -> None:
    """Run config_svc until SIGTERM or SIGINT."""
    box = await open_secrets_box(settings)
    store = await open_store(settings)
    try:
        async with auth_svc_keys(settings) as keys:
            broadcast = SnapshotBroadcast(await store.load_snapshot())
            feed = ChangeFeed(store, broadcast, settings.database)
            feed.start()
            try:
                await serve_grpc(
                    lambda health_servicer: build_server(
                        settings,
                        health_servicer,
                        store=store,
                        box=box,
                        broadcast=broadcast,
                        auth=ServiceAuth(TokenVerifier(keys, settings.auth)),
                    ),
                    name="config_svc",
                    section=settings.config_svc,
                    service_name=SERVICE_NAME,
                    # Every call needs a verified token: SERVING once auth_svc's keys are cached.
                    serving_once=keys.wait_ready(),
                    on_draining=broadcast.close,
                )
            finally:
                await feed.stop()
    finally:
        await store.close()


def main() -> None:
    run_service(serve, name="config_svc", metrics_name="config_svc")
