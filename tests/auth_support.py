"""Tokens for tests: signed with auth_svc's own key store, and an auth_svc to mint them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import grpc

from aigw_common.settings import Settings
from auth_svc.keys import KeyStore
from auth_svc.server import build_server, load_dependencies
from auth_svc.tokens import TokenIssuer


def bearer(issuer: TokenIssuer, *scopes: str, subject: str = "tester") -> list[tuple[str, str]]:
    token = issuer.issue(subject, list(scopes), timedelta(minutes=5)).token
    return [("authorization", f"Bearer {token}")]


def issuer_for(settings: Settings) -> tuple[KeyStore, TokenIssuer]:
    keys = KeyStore.load_or_create(settings.data_dir, settings.auth.algorithm)
    return keys, TokenIssuer(keys, settings.auth)


class _Bearer(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, metadata: Callable[[], list[tuple[str, str]]]) -> None:
        self._metadata = metadata

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with(details, self._metadata()), request)


class _BearerStream(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, metadata: Callable[[], list[tuple[str, str]]]) -> None:
        self._metadata = metadata

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with(details, self._metadata()), request)


def _with(details: Any, extra: Sequence[tuple[str, str]]) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    if all(key != "authorization" for key, _ in metadata):
        for key, value in extra:
            metadata.add(key, value)
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


def authorized_channel(
    target: str, metadata: Callable[[], list[tuple[str, str]]]
) -> grpc.aio.Channel:
    """A channel whose calls carry `metadata()` unless they bring their own authorization."""
    return grpc.aio.insecure_channel(
        target, interceptors=[_Bearer(metadata), _BearerStream(metadata)]
    )


@asynccontextmanager
async def running_auth(settings: Settings) -> AsyncIterator[tuple[int, str]]:
    """auth_svc in-process on `settings.auth_svc.port`; yields its port and admin credential."""
    keys, credential = await load_dependencies(settings)
    server, port = await build_server(settings, keys=keys, admin_credential=credential)
    await server.start()
    try:
        yield port, credential
    finally:
        await server.stop(None)
