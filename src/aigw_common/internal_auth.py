"""Internal authentication wired from settings, for a service's `serve()`.

Design: every gRPC call between aigw services carries a service token (a JWT from auth_svc with
the `aigw_service` scope, minted with the admin credential and renewed at half-life, see
service_token.py); config_svc and model_proxy_svc admit only aigw's own tokens with the scope
each method needs, verified with auth_svc's public keys (see interceptors/service_auth.py). The
`aigw` command uses short-lived `aigw_admin` tokens the same way. Transport encryption is
separate: AIGW_TLS__* (tls.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aigw_common.admin_credential import load_or_create_admin_credential
from aigw_common.channels import open_channel
from aigw_common.service_token import ServiceTokenSource
from aigw_common.settings import Settings
from aigw_common.token_verifier import JwksCache

JWKS_RETRY = [{"service": "aigw.auth.v1.AuthService", "method": "GetJwks"}]


@asynccontextmanager
async def auth_svc_keys(settings: Settings) -> AsyncIterator[JwksCache]:
    """auth_svc's public keys, fetched now (a failure is logged and retried, not raised) and
    refreshed for as long as the context lasts; verify aigw's tokens with them."""
    channel = open_channel(settings.auth_svc.address, retry_methods=JWKS_RETRY, tls=settings.tls)
    keys = JwksCache.from_auth_channel(channel, settings.auth)
    try:
        await keys.start()
        yield keys
    finally:
        await keys.close()
        await channel.close()


@asynccontextmanager
async def service_token(settings: Settings, subject: str) -> AsyncIterator[ServiceTokenSource]:
    """This service's own token (subject `subject`), kept fresh for as long as the context
    lasts; send it with `service_token_interceptors`."""
    credential = await asyncio.to_thread(load_or_create_admin_credential, settings)
    channel = open_channel(settings.auth_svc.address, tls=settings.tls)
    source = ServiceTokenSource.from_auth_channel(
        channel, credential, subject, ttl_s=settings.auth.token_ttl_s
    )
    try:
        await source.start()
        yield source
    finally:
        await source.close()
        await channel.close()
