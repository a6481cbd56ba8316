"""A token a service or the CLI mints for itself from auth_svc with the admin credential.

This is the seam through which aigw's own components get scoped tokens (router_svc for the
configuration watch, `aigw` for administration). It is renewed once most of its life is used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

import grpc

from aigw.auth.v1 import auth_service_pb2, auth_service_pb2_grpc

_TIMEOUT_S = 5.0
# Renew when less than this share of the token's life is left.
_RENEW_AT_REMAINING = 0.2


class ServiceToken:
    """Bearer metadata for calls to other aigw services, minted on first use and renewed."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        credential: Callable[[], str],
        *,
        subject: str,
        scopes: Sequence[str],
        ttl_s: int = 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        self._credential = credential
        self._subject = subject
        self._scopes = list(scopes)
        self._ttl_s = ttl_s
        self._clock = clock
        self._token = ""
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    async def metadata(self) -> list[tuple[str, str]]:
        """`authorization: Bearer <token>`; raises grpc.aio.AioRpcError if auth_svc refuses."""
        return [("authorization", f"Bearer {await self.token()}")]

    async def token(self) -> str:
        async with self._lock:
            if not self._token or self._clock() >= self._renew_at:
                request = auth_service_pb2.IssueTokenRequest(
                    subject=self._subject, scopes=self._scopes
                )
                request.ttl.FromTimedelta(timedelta(seconds=self._ttl_s))
                started = self._clock()
                response = await self._stub.IssueToken(
                    request,
                    metadata=[("authorization", f"Bearer {self._credential()}")],
                    timeout=_TIMEOUT_S,
                )
                self._token = response.token
                self._renew_at = started + self._ttl_s * (1 - _RENEW_AT_REMAINING)
            return self._token
