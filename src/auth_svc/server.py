"""Builds and runs auth_svc."""

from __future__ import annotations

import asyncio
import contextlib
from functools import partial

import grpc
import structlog
from grpc_health.v1 import health

from aigw.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from aigw_common.admin_credential import load_or_create_admin_credential
from aigw_common.errors import FailedPrecondition
from aigw_common.grpc_server import build_grpc_server, run_service, serve_grpc
from aigw_common.oidc import GitLabIssuers
from aigw_common.secrets_box import SecretsBox, load_sealing_key
from aigw_common.settings import Settings
from aigw_common.token_verifier import TrustedIssuer
from auth_svc.keys import KeyStore
from auth_svc.keyset_file import KeySetFile
from auth_svc.servicer import AuthServiceServicer
from auth_svc.shared_keys import SharedKeys, follow_shared_keys
from config_svc.migrate import migrate

SERVICE_NAME = auth_service_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name
# How often keys past their retention are removed.
RETIRE_CHECK_S = 60.0

_log = structlog.get_logger(__name__)


async def build_server(
    settings: Settings,
    health_servicer: health.aio.HealthServicer | None = None,
    *,
    keys: KeyStore,
    admin_credential: str,
    trusted: list[TrustedIssuer] | None = None,
) -> tuple[grpc.aio.Server, int]:
    """The auth server, bound but not started; the caller reports it SERVING. `trusted` are
    the GitLab issuers whose instance tokens may ask for user access tokens."""
    servicer = AuthServiceServicer(keys, settings.auth, admin_credential, trusted=trusted or ())
    return await build_grpc_server(
        settings.auth_svc,
        settings.tls,
        service_name=SERVICE_NAME,
        domain=SERVICE_NAME,
        register=partial(auth_service_pb2_grpc.add_AuthServiceServicer_to_server, servicer),
        health_servicer=health_servicer,
    )


async def retire_keys_periodically(keys: KeyStore, interval_s: float = RETIRE_CHECK_S) -> None:
    """Remove keys whose retention has passed, checking every `interval_s`."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(keys.retire_expired)
        except Exception as error:  # a full disk must not stop the service
            _log.warning("cannot retire expired keys", error=type(error).__name__)


async def load_dependencies(settings: Settings) -> tuple[KeyStore, str]:
    """The key store and admin credential, created on first start (off the event loop: RSA
    key generation takes a moment)."""
    admin_credential = await asyncio.to_thread(load_or_create_admin_credential, settings)
    shared = await shared_key_storage(settings)
    if shared is not None:
        await asyncio.to_thread(shared.ensure, settings.auth.algorithm)
        return await asyncio.to_thread(KeyStore.shared, shared), admin_credential
    keyset = KeySetFile(settings.data_dir).path
    if settings.cluster:
        if not keyset.exists():
            raise FailedPrecondition(
                "AIGW_CLUSTER=true: share the signing keys through AIGW_DATABASE__URL, or "
                f"mount them read-only at {keyset.parent}; a replica never generates its own"
            )
        keys = await asyncio.to_thread(KeyStore.load_read_only, settings.data_dir)
        return keys, admin_credential
    keys = await asyncio.to_thread(
        KeyStore.load_or_create, settings.data_dir, settings.auth.algorithm
    )
    return keys, admin_credential


async def shared_key_storage(settings: Settings) -> SharedKeys | None:
    """The key set in PostgreSQL when AIGW_DATABASE__URL is set (schema migrated first, as
    config_svc does), else None."""
    if settings.database.url is None:
        return None
    if settings.database.migrate_on_start:
        await asyncio.to_thread(migrate, settings.database, settings.config_db_path)
    box = SecretsBox(await asyncio.to_thread(load_sealing_key, settings))
    return SharedKeys(settings.database, box)


async def serve(settings: Settings) -> None:
    keys, admin_credential = await load_dependencies(settings)
    await asyncio.to_thread(keys.retire_expired)
    gitlab = GitLabIssuers(settings)
    background = [asyncio.create_task(retire_keys_periodically(keys), name="retire-keys")]
    shared = keys.shared_storage
    if isinstance(shared, SharedKeys):
        background.append(
            asyncio.create_task(
                follow_shared_keys(keys, shared, settings.database), name="follow-keys"
            )
        )
    try:
        await serve_grpc(
            lambda health_servicer: build_server(
                settings,
                health_servicer,
                keys=keys,
                admin_credential=admin_credential,
                trusted=gitlab.trusted,
            ),
            name="auth_svc",
            section=settings.auth_svc,
            service_name=SERVICE_NAME,
            started=gitlab.start,
        )
    finally:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await gitlab.close()


def main() -> None:
    run_service(serve, name="auth_svc", metrics_name="auth_svc")
