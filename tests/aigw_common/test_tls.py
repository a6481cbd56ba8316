"""TLS on gRPC ports: servers listen with the configured certificate, aigw's clients verify it."""

from __future__ import annotations

from pathlib import Path

import pytest
from grpc_health.v1 import health
from pydantic import ValidationError

from aigw_cli.supervisor import grpc_serving
from aigw_common.channels import open_channel
from aigw_common.errors import FailedPrecondition
from aigw_common.grpc_server import set_serving
from aigw_common.settings import Settings, TlsSettings
from aigw_common.tls import server_credentials
from aigw_common.token_verifier import JwksCache
from auth_svc import server as auth_server
from auth_svc.keys import KeyStore
from tests.tls_certs import make_pki


async def test_services_speak_tls_when_enabled_and_only_tls(
    settings: Settings, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path / "pki")
    tls = TlsSettings(
        enabled=True, cert_file=pki.cert_file, key_file=pki.key_file, ca_file=pki.ca_file
    )
    settings = settings.model_copy(update={"tls": tls})
    keys = KeyStore.load_or_create(settings.data_dir, "ES256")
    health_servicer = health.aio.HealthServicer()
    server, port = await auth_server.build_server(
        settings, health_servicer, keys=keys, admin_credential="admin-credential"
    )
    await server.start()
    await set_serving(health_servicer, [auth_server.SERVICE_NAME], serving=True)
    address = f"127.0.0.1:{port}"
    try:
        channel = open_channel(address, tls=tls)
        cache = JwksCache.from_auth_channel(channel, settings.auth, timeout_s=2)
        await cache.start()
        await cache.close()
        await channel.close()
        assert cache.kids == {key.kid for key in keys.keys}
        assert await grpc_serving(address, tls)
        # A plain-text client, or one that does not trust the CA, gets nothing.
        assert not await grpc_serving(address)
        assert not await grpc_serving(address, tls.model_copy(update={"ca_file": None}))
    finally:
        await server.stop(None)


def test_tls_needs_a_certificate_and_a_key() -> None:
    with pytest.raises(ValidationError, match="AIGW_TLS__CERT_FILE and AIGW_TLS__KEY_FILE"):
        TlsSettings(enabled=True)


def test_an_unreadable_certificate_is_a_clear_error(tmp_path: Path) -> None:
    tls = TlsSettings(enabled=True, cert_file=tmp_path / "missing.pem", key_file=tmp_path / "k")
    with pytest.raises(FailedPrecondition, match="AIGW_TLS__KEY_FILE="):
        server_credentials(tls)
