"""A real auth_svc in-process, for tests of the services that depend on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import grpc
from pydantic import SecretStr

from aigw_common.service_token import SERVICE_SCOPE
from aigw_common.settings import GrpcServiceSettings, Settings
from aigw_common.token_verifier import TrustedIssuer
from auth_svc import server as auth_server
from auth_svc.keys import KeyStore
from auth_svc.tokens import TokenIssuer
from tests.leak_scan import remember

ADMIN_CREDENTIAL = remember("test-admin-credential-0123456789")


@dataclass
class RunningAuthSvc:
    """auth_svc on a free port; `settings` point every other service at it."""

    settings: Settings
    keys: KeyStore
    server: grpc.aio.Server
    port: int

    @property
    def issuer(self) -> TokenIssuer:
        return TokenIssuer(self.keys, self.settings.auth)

    def token(self, *scopes: str, subject: str = "tester", ttl_s: int = 300) -> str:
        return self.issuer.issue(subject, list(scopes), timedelta(seconds=ttl_s)).token

    def service_metadata(self, subject: str = "router_svc") -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.token(SERVICE_SCOPE, subject=subject)}")]


def with_auth_svc(settings: Settings, port: int) -> Settings:
    """`settings` with auth_svc at 127.0.0.1:`port` and the test admin credential."""
    auth = settings.auth.model_copy(update={"admin_credential": SecretStr(ADMIN_CREDENTIAL)})
    return settings.model_copy(
        update={"auth_svc": GrpcServiceSettings(port=port, grace_period_s=0.5), "auth": auth}
    )


@asynccontextmanager
async def running_auth_svc(
    settings: Settings, *, trusted: Sequence[TrustedIssuer] = ()
) -> AsyncIterator[RunningAuthSvc]:
    keys = KeyStore.load_or_create(settings.data_dir, settings.auth.algorithm)
    server, port = await auth_server.build_server(
        settings, keys=keys, admin_credential=ADMIN_CREDENTIAL, trusted=list(trusted)
    )
    await server.start()
    try:
        yield RunningAuthSvc(with_auth_svc(settings, port), keys, server, port)
    finally:
        await server.stop(None)
