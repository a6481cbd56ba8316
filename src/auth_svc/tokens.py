"""Issuing tokens: short-lived JWTs signed by the key store's active key."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from aigw_common.errors import InvalidArgument
from aigw_common.settings import AuthSettings
from auth_svc.keys import KeyStore


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    jti: str


class TokenIssuer:
    """Signs tokens with the active key; lifetimes default to and are capped by the settings."""

    def __init__(
        self, keys: KeyStore, auth: AuthSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._keys = keys
        self._auth = auth
        self._clock = clock

    def lifetime(self, ttl: timedelta | None) -> int:
        """The lifetime in whole seconds for a requested `ttl` (None or zero: the default)."""
        if ttl is None or ttl == timedelta(0):
            return self._auth.token_ttl_s
        maximum = self._auth.max_token_ttl_s
        if ttl < timedelta(seconds=1) or ttl > timedelta(seconds=maximum):
            raise InvalidArgument(
                f"ttl must be unset (the default, {self._auth.token_ttl_s} s) or between "
                f"1 s and {maximum} s",
                field="ttl",
                metadata={"max_ttl_s": str(maximum)},
            )
        return int(ttl.total_seconds())

    def issue(
        self,
        subject: str,
        scopes: Sequence[str],
        ttl: timedelta | None = None,
        *,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> IssuedToken:
        """A signed token for `subject` granting `scopes`; checks `ttl` but not the rest.

        `extra_claims` (e.g. gitlab_realm) are added; they cannot replace a registered claim.
        """
        lifetime = self.lifetime(ttl)
        issued_at = int(self._clock())
        expires = issued_at + lifetime
        jti = str(uuid.uuid4())
        claims: dict[str, Any] = dict(extra_claims or {})
        claims |= {
            "iss": self._auth.issuer,
            "aud": self._auth.audience,
            "sub": subject,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": expires,
            "jti": jti,
            "scopes": list(scopes),
        }
        signer = self._keys.active
        token = jwt.encode(
            claims, signer.private_key, algorithm=signer.algorithm, headers={"kid": signer.kid}
        )
        return IssuedToken(token, datetime.fromtimestamp(expires, UTC), jti)
