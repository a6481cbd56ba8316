"""In-process verification of tokens with public keys fetched ahead of time and cached.

Two kinds of issuer are trusted: aigw itself (keys from auth_svc) and, when configured, a GitLab
instance and its customer portal (keys from OIDC discovery, see oidc.py). Each issuer has its
own key set, audience and allowed algorithms; a token's unverified `iss` only picks which of
them to verify it against.

Nothing on the request path calls anyone: each issuer's keys are cached (jwks_cache.py), so
traffic keeps flowing while auth_svc or the GitLab instance is down. JwksCache and parse_jwks
are re-exported here, where their users have always found them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, Protocol, TypeAlias

import jwt
from jwt import PyJWK

from aigw_common.errors import Unauthenticated
from aigw_common.jwks_cache import (
    FETCH_TIMEOUT_S,
    MIN_ON_DEMAND_REFRESH_S,
    JwksCache,
    JwksFetch,
    JwksResponse,
    parse_jwks,
)
from aigw_common.settings import AuthSettings
from aigw_common.verified_tokens import VerifiedToken, VerifiedTokens

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "AUTHORIZATION_KEY",
    "FETCH_TIMEOUT_S",
    "GITLAB_ALGORITHMS",
    "MIN_ON_DEMAND_REFRESH_S",
    "JwksCache",
    "JwksFetch",
    "JwksResponse",
    "KeySource",
    "Principal",
    "TokenVerifier",
    "TrustedIssuer",
    "authorization_from_metadata",
    "bearer_token",
    "parse_jwks",
]

AUTHORIZATION_KEY = "authorization"
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
        self._only = own if not trusted else None
        self._auth = auth
        self._verified = VerifiedTokens(auth.verified_token_cache_size)

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
        if (known := await self._verified.principal(token)) is not None:
            return known
        try:
            header = jwt.get_unverified_header(token)
            # With several issuers, the claims are read without verification only to choose
            # the issuer's keys (every claim is verified below against that issuer's key). With
            # one, that would only cost time: the check below refuses any other `iss`.
            trusted = self._only or self._issuer_of(
                jwt.decode(token, options={"verify_signature": False})
            )
        except jwt.PyJWTError:
            raise _invalid("token is malformed") from None
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
        principal = _principal(claims, trusted.kind)
        self._verified.remember(
            token, VerifiedToken(principal, trusted, kid, key, principal.expires_at.timestamp())
        )
        return principal

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
