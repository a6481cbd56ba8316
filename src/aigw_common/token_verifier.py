"""In-process verification of tokens with public keys fetched ahead of time and cached.

Two kinds of issuer are trusted: aigw itself (keys from auth_svc) and, when configured, a GitLab
instance and its customer portal (keys from OIDC discovery, see oidc.py). Each issuer has its
own key set, audience and allowed algorithms; a token's unverified `iss` only picks which of
them to verify it against.

Nothing on the request path calls anyone: keys are fetched at start-up, every refresh interval,
and when a token names a key we do not know (at most once per 5 s per issuer, so random `kid`s
cannot turn into a flood of fetches). A failed fetch never drops the cached keys, so traffic
keeps flowing while auth_svc or the GitLab instance is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, Protocol, TypeAlias

import grpc
import jwt
import structlog
from jwt import PyJWK

from aigw.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from aigw_common.errors import Unauthenticated
from aigw_common.settings import AuthSettings

_log = structlog.get_logger(__name__)

AUTHORIZATION_KEY = "authorization"
FETCH_TIMEOUT_S = 2.0
MIN_ON_DEMAND_REFRESH_S = 5.0
_RETRY_FIRST_S = 1.0
_REQUIRED_CLAIMS = ["exp", "iat", "sub", "aud", "iss"]

# Every algorithm aigw signs with. Symmetric (HS*) and `none` are never accepted from anyone.
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
# GitLab instances sign with their OIDC RSA key.
GITLAB_ALGORITHMS = frozenset({"RS256"})

IssuerKind: TypeAlias = Literal["aigw", "gitlab"]


@dataclass(frozen=True)
class Principal:
    """The verified caller: who it is and what its token lets it do."""

    subject: str
    scopes: frozenset[str]
    issuer: str
    expires_at: datetime
    # "aigw" for aigw's own tokens, "gitlab" for a trusted GitLab issuer's.
    issuer_kind: IssuerKind = "aigw"
    # Every verified claim (read-only), e.g. gitlab_realm and gitlab_instance_id.
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def can(self, scope: str) -> bool:
        return scope in self.scopes

    def claim(self, name: str) -> str | None:
        """A claim's value when it is a non-empty string, else None."""
        value = self.claims.get(name)
        return value if isinstance(value, str) and value else None


class JwksResponse(Protocol):
    """What a key fetch returns (AuthService.GetJwks's response has this shape)."""

    @property
    def jwks_json(self) -> str: ...


JwksFetch = Callable[[], Awaitable[JwksResponse]]


class KeySource(Protocol):
    """Where a verifier finds public keys: by exact `kid`, nothing else."""

    async def key_for(self, kid: str) -> PyJWK | None: ...


@dataclass(frozen=True)
class TrustedIssuer:
    """An issuer whose tokens are accepted: its exact `iss`, its keys, the audience its tokens
    must name, and the algorithms it may sign with."""

    issuer: str
    keys: KeySource
    audience: str
    algorithms: frozenset[str]
    kind: IssuerKind = "gitlab"

    def __post_init__(self) -> None:
        if not self.algorithms or not self.algorithms <= ASYMMETRIC_ALGORITHMS:
            raise ValueError(f"issuer {self.issuer!r}: only asymmetric algorithms may be trusted")


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


class TokenVerifier:
    """Verifies JWTs strictly: per-issuer algorithms and audience, exact `kid`, required claims.

    `keys` holds aigw's own public keys (tokens with `iss` = AIGW_AUTH__ISSUER); `trusted` adds
    external issuers.
    """

    def __init__(
        self, keys: KeySource, auth: AuthSettings, *, trusted: Sequence[TrustedIssuer] = ()
    ) -> None:
        own = TrustedIssuer(auth.issuer, keys, auth.audience, ASYMMETRIC_ALGORITHMS, kind="aigw")
        self._issuers: dict[str, TrustedIssuer] = {}
        for issuer in (own, *trusted):
            if issuer.issuer in self._issuers:
                raise ValueError(f"issuer {issuer.issuer!r} is configured twice")
            self._issuers[issuer.issuer] = issuer
        self._auth = auth

    @property
    def issuers(self) -> tuple[TrustedIssuer, ...]:
        return tuple(self._issuers.values())

    async def verify_bearer(self, authorization: str | None) -> Principal:
        """Verify the token in an `authorization: Bearer <token>` metadata value."""
        return await self.verify(bearer_token(authorization))

    async def verify(self, token: str) -> Principal:
        """The principal a valid token names; Unauthenticated with the reason otherwise."""
        if len(token) > self._auth.max_token_bytes:
            raise _invalid(f"token too large (the limit is {self._auth.max_token_bytes} bytes)")
        if not token.isascii():
            raise _invalid("token is malformed")
        try:
            header = jwt.get_unverified_header(token)
            # Read without verification only to choose the issuer's keys; every claim is
            # verified below against that issuer's key.
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _invalid("token is malformed") from None
        trusted = self._issuer_of(unverified)
        algorithm = header.get("alg")
        if algorithm not in trusted.algorithms:
            raise _invalid(
                "token signing algorithm is not allowed",
                metadata={"allowed_algorithms": ",".join(sorted(trusted.algorithms))},
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _invalid("token has no key id (kid)")
        key = await trusted.keys.key_for(kid)
        if key is None:
            raise _invalid("unknown signing key")
        if key.algorithm_name != algorithm:
            raise _invalid("token signing algorithm is not allowed")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=trusted.audience,
                issuer=trusted.issuer,
                leeway=self._auth.clock_skew_s,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as error:
            raise _from_jwt_error(error) from None
        return _principal(claims, trusted.kind)

    def _issuer_of(self, unverified: dict[str, Any]) -> TrustedIssuer:
        issuer = unverified.get("iss")
        if issuer is None:
            raise _invalid("token has no 'iss' claim")
        trusted = self._issuers.get(issuer) if isinstance(issuer, str) else None
        if trusted is None:
            raise _invalid("token issuer does not match")
        return trusted


def bearer_token(authorization: str | None) -> str:
    """The token in a `Bearer <token>` header value (the scheme is case-insensitive)."""
    # GitLab's exact messages: its clients show them to administrators.
    if authorization is None or not authorization.strip():
        raise Unauthenticated("No authorization header presented", reason="TOKEN_MISSING")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise _invalid("Invalid authorization header")
    return token


def authorization_from_metadata(metadata: Iterable[tuple[str, Any]] | None) -> str | None:
    """The `authorization` value of gRPC invocation metadata, if there is a text one."""
    for key, value in metadata or ():
        if key == AUTHORIZATION_KEY and isinstance(value, str):
            return value
    return None


def _principal(claims: dict[str, Any], kind: IssuerKind) -> Principal:
    subject, issuer, scopes = claims["sub"], claims["iss"], claims.get("scopes", [])
    if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
        raise _invalid("token scopes claim is malformed")
    if not isinstance(subject, str) or not subject or not isinstance(issuer, str):
        raise _invalid("token is malformed")
    try:
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    except (OverflowError, OSError, ValueError, TypeError):
        raise _invalid("token expiry is out of range") from None
    return Principal(
        subject, frozenset(scopes), issuer, expires_at, kind, MappingProxyType(dict(claims))
    )


def _from_jwt_error(error: jwt.PyJWTError) -> Unauthenticated:
    # PyJWT's own messages are not shown: the mapping below keeps the wording ours and stable.
    if isinstance(error, jwt.ExpiredSignatureError):
        return Unauthenticated("token expired", reason="TOKEN_EXPIRED")
    if isinstance(error, jwt.ImmatureSignatureError):
        return _invalid("token is not valid yet")
    if isinstance(error, jwt.InvalidAudienceError):
        return _invalid("token audience does not match")
    if isinstance(error, jwt.InvalidIssuerError):
        return _invalid("token issuer does not match")
    if isinstance(error, jwt.MissingRequiredClaimError):
        return _invalid(f"token has no {error.claim!r} claim")
    if isinstance(error, jwt.InvalidSignatureError):
        return _invalid("token signature is invalid")
    if isinstance(error, jwt.InvalidAlgorithmError):
        return _invalid("token signing algorithm is not allowed")
    return _invalid("token is malformed")


def _invalid(message: str, *, metadata: dict[str, str] | None = None) -> Unauthenticated:
    return Unauthenticated(message, metadata=metadata, reason="TOKEN_INVALID")


def _describe(error: Exception) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details()}"
    if isinstance(error, TimeoutError):
        return "timed out"
    return f"{type(error).__name__}: {error}"
