"""Public signing keys fetched ahead of time and cached, for in-process token verification.

Nothing on the request path fetches: keys are fetched at start-up, every refresh interval, and
when a token names a key we do not know (at most once per 5 s, so random `kid`s cannot turn
into a flood of fetches). A failed fetch never drops the cached keys, so traffic keeps flowing
while the source (auth_svc, a GitLab instance) is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import grpc
import jwt
import structlog
from jwt import PyJWK

from aigw.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from aigw_common.settings import AuthSettings

_log = structlog.get_logger(__name__)

FETCH_TIMEOUT_S = 2.0
MIN_ON_DEMAND_REFRESH_S = 5.0
_RETRY_FIRST_S = 1.0


class JwksResponse(Protocol):
    """What a key fetch returns (AuthService.GetJwks's response has this shape)."""

    @property
    def jwks_json(self) -> str: ...


JwksFetch = Callable[[], Awaitable[JwksResponse]]


def parse_jwks(jwks_json: str) -> dict[str, PyJWK]:
    """The usable signature keys of an RFC 7517 key set, by `kid`; keys without one are skipped."""
    document = json.loads(jwks_json)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set")
    keys: dict[str, PyJWK] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict):
            continue
        kid = jwk.get("kid")
        # A key set publishes public keys; a symmetric ("oct") key there is never trusted.
        if not isinstance(kid, str) or not kid or jwk.get("kty") == "oct":
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        try:
            keys[kid] = PyJWK(jwk)
        except (jwt.PyJWTError, KeyError, ValueError, TypeError) as error:
            _log.warning("skipping an unusable signing key", kid=kid, error=type(error).__name__)
    return keys


class JwksCache:
    """Public signing keys fetched with `fetch`, kept across failed refreshes."""

    def __init__(
        self,
        fetch: JwksFetch,
        *,
        refresh_interval_s: float,
        min_on_demand_refresh_s: float = MIN_ON_DEMAND_REFRESH_S,
        fetch_timeout_s: float = FETCH_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        source: str = "auth_svc",
    ) -> None:
        self._fetch = fetch
        self._source = source
        self._refresh_interval_s = refresh_interval_s
        self._min_on_demand_refresh_s = min_on_demand_refresh_s
        self._fetch_timeout_s = fetch_timeout_s
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._lock = asyncio.Lock()
        self._last_fetch_at: float | None = None
        self._last_fetch_ok = False
        self._task: asyncio.Task[None] | None = None
        self._loaded = asyncio.Event()

    @classmethod
    def from_auth_channel(
        cls, channel: grpc.aio.Channel, auth: AuthSettings, *, timeout_s: float = FETCH_TIMEOUT_S
    ) -> JwksCache:
        """A cache that fetches with AuthService.GetJwks over `channel`."""
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)

        async def fetch() -> auth_service_pb2.GetJwksResponse:
            response = await stub.GetJwks(auth_service_pb2.GetJwksRequest(), timeout=timeout_s)
            if (response.issuer, response.audience) != (auth.issuer, auth.audience):
                # Every token would then fail the iss/aud check: say why, once per fetch.
                _log.warning(
                    "auth_svc issues tokens for another issuer or audience than this service "
                    "accepts; check AIGW_AUTH__ISSUER and AIGW_AUTH__AUDIENCE",
                    auth_svc_issuer=response.issuer,
                    auth_svc_audience=response.audience,
                    issuer=auth.issuer,
                    audience=auth.audience,
                )
            return response

        return cls(fetch, refresh_interval_s=auth.jwks_refresh_s, fetch_timeout_s=timeout_s)

    @property
    def ready(self) -> bool:
        """Whether any key is cached (tokens can be verified)."""
        return bool(self._keys)

    async def wait_ready(self) -> None:
        """Return once keys are cached (the periodic refresh keeps trying until then)."""
        await self._loaded.wait()

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    async def start(self) -> None:
        """Fetch the keys (a failure is logged, not raised) and start refreshing periodically."""
        await self.refresh()
        if self._task is None:
            self._task = asyncio.create_task(self._refresh_periodically(), name="jwks-refresh")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def key_for(self, kid: str) -> PyJWK | None:
        """The key with exactly this `kid`; an unknown one triggers a (rate-limited) refresh."""
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            # Callers waiting here share the refresh the first one made.
            key = self._keys.get(kid)
            if key is None and self._may_refresh_on_demand():
                await self._refresh_locked()
                key = self._keys.get(kid)
        return key

    async def refresh(self) -> bool:
        """Fetch the keys now; False (keys kept) if that failed."""
        async with self._lock:
            return await self._refresh_locked()

    def _may_refresh_on_demand(self) -> bool:
        last = self._last_fetch_at
        return last is None or self._clock() - last >= self._min_on_demand_refresh_s

    async def _refresh_locked(self) -> bool:
        self._last_fetch_at = self._clock()
        self._last_fetch_ok = False
        try:
            async with asyncio.timeout(self._fetch_timeout_s):
                response = await self._fetch()
            keys = parse_jwks(response.jwks_json)
        except Exception as error:
            # Any failure, including a bad answer, leaves the cached keys in place.
            _log.warning(
                "cannot refresh token signing keys; keeping the cached ones",
                source=self._source,
                error=_describe(error),
                cached_keys=len(self._keys),
            )
            return False
        if not keys:
            _log.warning(
                "no usable signing keys published; keeping the cached ones", source=self._source
            )
            return False
        if keys.keys() != self._keys.keys():
            _log.info("token signing keys updated", source=self._source, kids=sorted(keys))
        self._keys = keys
        self._loaded.set()
        self._last_fetch_ok = True
        return True

    async def _refresh_periodically(self) -> None:
        failures = 0
        while True:
            delay = self._refresh_interval_s
            if not self._last_fetch_ok:
                # Retry sooner after a failure, above all when there are no keys yet.
                delay = min(delay, _RETRY_FIRST_S * 2 ** min(failures, 8))
            await asyncio.sleep(delay)
            failures = 0 if await self.refresh() else failures + 1


def _describe(error: Exception) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details()}"
    if isinstance(error, TimeoutError):
        return "timed out"
    return f"{type(error).__name__}: {error}"
