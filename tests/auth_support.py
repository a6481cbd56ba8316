"""Tokens for tests: signed with auth_svc's own key store, sent the way aigw's services send
theirs, and a real auth_svc in-process for the services that depend on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import grpc
from pydantic import SecretStr

from aigw_common import scopes as aigw_scopes
from aigw_common.channels import open_channel
from aigw_common.service_token import service_token_interceptors
from aigw_common.settings import AuthServiceSettings, Settings
from aigw_common.token_verifier import TrustedIssuer
from auth_svc import server as auth_server
from auth_svc.keys import KeyStore
from auth_svc.tokens import TokenIssuer
from tests.leak_scan import remember

ADMIN_CREDENTIAL = remember("test-admin-credential-0123456789")


def bearer(issuer: TokenIssuer, *scopes: str, subject: str = "tester") -> list[tuple[str, str]]:
    token = issuer.issue(subject, list(scopes), timedelta(minutes=5)).token
    return [("authorization", f"Bearer {token}")]


def issuer_for(settings: Settings) -> tuple[KeyStore, TokenIssuer]:
    keys = KeyStore.load_or_create(settings.data_dir, settings.auth.algorithm)
    return keys, TokenIssuer(keys, settings.auth)


@dataclass(frozen=True)
class _FreshTokens:
    """A token source (as ServiceTokenSource is one) issuing a new token for every call."""

    issuer: TokenIssuer
    scopes: Sequence[str]
    subject: str

    def current(self) -> str:
        return self.issuer.issue(self.subject, list(self.scopes), timedelta(minutes=5)).token


def authorized_channel(
    target: str, issuer: TokenIssuer, *scopes: str, subject: str = "tester"
) -> grpc.aio.Channel:
    """A client's channel (as the `aigw` command opens one) whose calls carry a token granting
    `scopes` unless they bring their own, sent by the interceptors aigw's services use."""
    tokens = _FreshTokens(issuer, scopes, subject)
    return grpc.aio.insecure_channel(target, interceptors=service_token_interceptors(tokens))


def service_channel(
    target: str, issuer: TokenIssuer, subject: str = "router_svc"
) -> grpc.aio.Channel:
    """A channel as a service opens one to another (`open_channel`), carrying an
    `aigw_service` token as the service's own token source would."""
    tokens = _FreshTokens(issuer, (aigw_scopes.SERVICE,), subject)
    return open_channel(target, interceptors=service_token_interceptors(tokens))


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
        return bearer(self.issuer, aigw_scopes.SERVICE, subject=subject)


def with_auth_svc(settings: Settings, port: int) -> Settings:
    """`settings` with auth_svc at 127.0.0.1:`port` and the test admin credential."""
    auth = settings.auth.model_copy(update={"admin_credential": SecretStr(ADMIN_CREDENTIAL)})
    return settings.model_copy(
        update={"auth_svc": AuthServiceSettings(port=port, grace_period_s=0.5), "auth": auth}
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
