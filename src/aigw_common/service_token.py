"""Client side of internal authentication: a service's own short-lived token, kept fresh.

Each aigw service that calls another (the router calls config_svc and model_proxy_svc) asks
auth_svc at start for a token with the `aigw_service` scope, using the shared admin credential,
and renews it when half its lifetime is gone. A client interceptor sends it as
`authorization: Bearer <token>` on every call over that service's internal channels. A renewal
that fails keeps the current token (retrying with backoff) until it expires, so auth_svc being
down for a while stops nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc
import structlog

from aigw.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from aigw_common import scopes as aigw_scopes
from aigw_common.interceptors.client_metadata import adding_metadata
from aigw_common.token_verifier import AUTHORIZATION_KEY

_log = structlog.get_logger(__name__)

MINT_TIMEOUT_S = 5.0
_RETRY_FIRST_S = 0.5
_RETRY_MAX_S = 30.0


@dataclass(frozen=True)
class MintedToken:
    token: str
    expires_at: float  # unix seconds


Mint = Callable[[], Awaitable[MintedToken]]


class TokenSource(Protocol):
    """What the client interceptors ask for the token to send (ServiceTokenSource is one)."""

    def current(self) -> str | None: ...


class ServiceTokenSource:
    """Holds one service's current token and renews it in the background."""

    def __init__(self, mint: Mint, *, subject: str, clock: Callable[[], float] = time.time):
        self._mint = mint
        self._subject = subject
        self._clock = clock
        self._current: MintedToken | None = None
        self._task: asyncio.Task[None] | None = None
        self._obtained = asyncio.Event()

    @classmethod
    def from_auth_channel(
        cls,
        channel: grpc.aio.Channel,
        admin_credential: str,
        subject: str,
        *,
        scopes: Sequence[str] = (aigw_scopes.SERVICE,),
        ttl_s: int | None = None,
    ) -> ServiceTokenSource:
        """A source that mints with AuthService.IssueToken over `channel`."""
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        request = auth_service_pb2.IssueTokenRequest(subject=subject, scopes=list(scopes))
        if ttl_s is not None:
            request.ttl.seconds = ttl_s

        async def mint() -> MintedToken:
            response = await stub.IssueToken(
                request,
                metadata=[(AUTHORIZATION_KEY, f"Bearer {admin_credential}")],
                timeout=MINT_TIMEOUT_S,
            )
            return MintedToken(response.token, float(response.expires_at.seconds))

        return cls(mint, subject=subject)

    def current(self) -> str | None:
        """The token to send now; None before the first one arrived or once it has expired."""
        minted = self._current
        if minted is None or minted.expires_at <= self._clock():
            return None
        return minted.token

    async def wait_ready(self) -> None:
        await self._obtained.wait()

    async def start(self) -> None:
        """Try to get a token now (a failure is logged, not raised) and keep one fresh."""
        await self._renew()
        if self._task is None:
            self._task = asyncio.create_task(self._renew_forever(), name="service-token")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _renew(self) -> bool:
        try:
            minted = await self._mint()
        except Exception as error:
            detail = (
                f"{error.code().name}: {error.details()}"
                if isinstance(error, grpc.aio.AioRpcError)
                else type(error).__name__
            )
            _log.warning(
                "cannot obtain a service token from auth_svc; keeping the current one",
                service=self._subject,
                error=detail,
                has_token=self.current() is not None,
            )
            return False
        self._current = minted
        self._obtained.set()
        _log.info("service token obtained", service=self._subject, expires_in_s=self._left())
        return True

    async def _renew_forever(self) -> None:
        failures = 0
        while True:
            if self.current() is not None and failures == 0:
                # Renew at half-life: the other half is slack for auth_svc being down.
                delay = max(self._left() / 2, 1.0)
            else:
                delay = min(_RETRY_FIRST_S * 2 ** min(failures, 10), _RETRY_MAX_S)
            await asyncio.sleep(delay)
            failures = 0 if await self._renew() else failures + 1

    def _left(self) -> float:
        return self._current.expires_at - self._clock() if self._current is not None else 0.0


def service_token_interceptors(source: TokenSource) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors that send `source`'s token with every unary and server-streaming call
    (unless the call carries its own authorization). Without a token yet, calls go out without
    one and are refused UNAUTHENTICATED, which callers retry like any other failure."""

    def authorization() -> tuple[tuple[str, str | None]]:
        token = source.current()
        return ((AUTHORIZATION_KEY, f"Bearer {token}" if token is not None else None),)

    return adding_metadata(authorization)
