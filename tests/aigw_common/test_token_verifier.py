from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from aigw.auth.v1 import auth_service_pb2 as pb
from aigw_common.errors import Unauthenticated
from aigw_common.settings import AuthSettings, Settings
from aigw_common.token_verifier import (
    GITLAB_ALGORITHMS,
    JwksCache,
    Principal,
    TokenVerifier,
    TrustedIssuer,
    authorization_from_metadata,
    bearer_token,
    parse_jwks,
)
from auth_svc.keys import KeyStore, SigningKey
from auth_svc.server import build_server
from auth_svc.tokens import TokenIssuer

AUTH = AuthSettings(max_token_bytes=4096)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    return KeyStore.load_or_create(tmp_path_factory.mktemp("keys"), "RS256")


@pytest.fixture
def verifier(keys: KeyStore) -> TokenVerifier:
    return TokenVerifier(keys, AUTH)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": AUTH.issuer,
        "aud": AUTH.audience,
        "sub": "ide-user",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "j",
        "scopes": ["duo_chat"],
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _sign(keys: KeyStore, claims: dict[str, Any], **header: Any) -> str:
    return jwt.encode(
        claims,
        keys.active.private_key,
        algorithm="RS256",
        headers={"kid": keys.active.kid, **header},
    )


def _unsigned(
    header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]
) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


async def _rejected(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as raised:
        await verifier.verify(token)
    message = raised.value.message
    assert not token or token not in message
    return message


async def test_a_valid_token_gives_its_principal(keys: KeyStore, verifier: TokenVerifier) -> None:
    token = TokenIssuer(keys, AUTH).issue("ide-user", ["duo_chat", "code_suggestions"]).token

    principal = await verifier.verify(token)

    assert principal.subject == "ide-user"
    assert principal.scopes == frozenset({"duo_chat", "code_suggestions"})
    assert principal.issuer == "aigw"
    assert principal.expires_at.tzinfo is UTC
    assert principal.can("duo_chat")
    assert not principal.can("admin")
    assert await verifier.verify_bearer(f"Bearer {token}") == principal


async def test_clock_skew_is_tolerated(keys: KeyStore, verifier: TokenVerifier) -> None:
    now = int(time.time())
    token = _sign(keys, _claims(iat=now + 20, nbf=now + 20, exp=now - 20 + 600))
    assert (await verifier.verify(token)).subject == "ide-user"
    assert (await verifier.verify(_sign(keys, _claims(exp=now - 20)))).subject == "ide-user"


async def test_alg_none_is_refused(keys: KeyStore, verifier: TokenVerifier) -> None:
    token = _unsigned(
        {"alg": "none", "typ": "JWT", "kid": keys.active.kid}, _claims(), lambda _: b""
    )
    assert await _rejected(verifier, token) == "token signing algorithm is not allowed"
    assert (
        await _rejected(verifier, token.rstrip(".") + ".")
        == "token signing algorithm is not allowed"
    )


async def test_hs256_signed_with_the_public_key_is_refused(
    keys: KeyStore, verifier: TokenVerifier
) -> None:
    public_pem = keys.active.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": keys.active.kid}
    token = _unsigned(header, _claims(), lambda data: hmac.digest(public_pem, data, hashlib.sha256))
    assert await _rejected(verifier, token) == "token signing algorithm is not allowed"


async def test_an_algorithm_other_than_the_keys_own_is_refused(
    tmp_path: Path, keys: KeyStore, verifier: TokenVerifier
) -> None:
    # ES256 is one of aigw's algorithms, but the key this token names is an RSA key.
    other = KeyStore.load_or_create(tmp_path, "ES256").active
    token = jwt.encode(
        _claims(), other.private_key, algorithm="ES256", headers={"kid": keys.active.kid}
    )
    assert await _rejected(verifier, token) == "token signing algorithm is not allowed"
    # A key aigw does not publish is unknown, whatever its algorithm.
    token = jwt.encode(_claims(), other.private_key, algorithm="ES256", headers={"kid": other.kid})
    assert await _rejected(verifier, token) == "unknown signing key"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"exp": int(time.time()) - 3600}, "token expired"),
        ({"nbf": int(time.time()) + 3600}, "token is not valid yet"),
        ({"iat": int(time.time()) + 3600}, "token is not valid yet"),
        ({"aud": "someone-else"}, "token audience does not match"),
        ({"iss": "evil"}, "token issuer does not match"),
        ({"exp": None}, "token has no 'exp' claim"),
        ({"iat": None}, "token has no 'iat' claim"),
        ({"sub": None}, "token has no 'sub' claim"),
        ({"aud": None}, "token has no 'aud' claim"),
        ({"iss": None}, "token has no 'iss' claim"),
        ({"sub": 42}, "token is malformed"),
        ({"scopes": "duo_chat"}, "token scopes claim is malformed"),
        ({"exp": 10**30}, "token expiry is out of range"),
    ],
)
async def test_claims_are_checked(
    keys: KeyStore, verifier: TokenVerifier, changes: dict[str, Any], message: str
) -> None:
    assert await _rejected(verifier, _sign(keys, _claims(**changes))) == message


async def test_an_expired_token_reports_a_specific_reason(
    keys: KeyStore, verifier: TokenVerifier
) -> None:
    with pytest.raises(Unauthenticated) as raised:
        await verifier.verify(_sign(keys, _claims(exp=int(time.time()) - 3600)))
    assert raised.value.reason == "TOKEN_EXPIRED"


async def test_an_unknown_kid_is_refused(keys: KeyStore, verifier: TokenVerifier) -> None:
    token = _sign(keys, _claims(), kid="someone-elses-key")
    assert await _rejected(verifier, token) == "unknown signing key"


async def test_a_token_without_kid_is_refused(keys: KeyStore, verifier: TokenVerifier) -> None:
    token = jwt.encode(_claims(), keys.active.private_key, algorithm="RS256")
    assert await _rejected(verifier, token) == "token has no key id (kid)"


async def test_a_tampered_payload_is_refused(keys: KeyStore, verifier: TokenVerifier) -> None:
    header, _, signature = _sign(keys, _claims()).split(".")
    forged = _b64(json.dumps(_claims(scopes=["admin"])).encode())
    assert await _rejected(verifier, f"{header}.{forged}.{signature}") == (
        "token signature is invalid"
    )


@pytest.mark.parametrize("cut", [1, 40, 400])
async def test_a_truncated_token_is_refused(
    keys: KeyStore, verifier: TokenVerifier, cut: int
) -> None:
    token = _sign(keys, _claims())
    assert await _rejected(verifier, token[:-cut]) in {
        "token signature is invalid",
        "token is malformed",
    }


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "ä.ö.ü", "eyJ.eyJ.x", "...."])
async def test_garbage_is_malformed(verifier: TokenVerifier, token: str) -> None:
    assert await _rejected(verifier, token) == "token is malformed"


async def test_an_oversized_token_is_refused_before_parsing(
    keys: KeyStore, verifier: TokenVerifier
) -> None:
    token = _sign(keys, _claims(padding="x" * 5000))
    assert await _rejected(verifier, token) == "token too large (the limit is 4096 bytes)"
    assert await _rejected(verifier, "x" * 100_000) == "token too large (the limit is 4096 bytes)"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "No authorization header presented"),
        ("", "No authorization header presented"),
        ("Basic dXNlcjpwYXNz", "Invalid authorization header"),
        ("Bearer", "Invalid authorization header"),
        ("Bearer a b", "Invalid authorization header"),
        ("Token abc", "Invalid authorization header"),
    ],
)
async def test_the_authorization_header_is_parsed(
    verifier: TokenVerifier, value: str | None, message: str
) -> None:
    with pytest.raises(Unauthenticated, match=message):
        await verifier.verify_bearer(value)


def test_bearer_scheme_is_case_insensitive() -> None:
    assert bearer_token("bearer abc") == "abc"
    assert bearer_token("  BEARER   abc ") == "abc"


def test_authorization_from_metadata() -> None:
    assert authorization_from_metadata(None) is None
    assert authorization_from_metadata([("x-request-id", "r"), ("authorization", "B t")]) == "B t"
    assert authorization_from_metadata([("authorization", b"binary")]) is None


def test_principal_can_checks_scopes() -> None:
    principal = Principal("s", frozenset({"a"}), "aigw", datetime.now(UTC))
    assert principal.can("a")
    assert not principal.can("b")


def test_parse_jwks_skips_unusable_and_symmetric_keys(keys: KeyStore) -> None:
    good = dict(keys.active.public_jwk)
    jwks = {
        "keys": [
            good,
            {**good, "kid": ""},
            {k: v for k, v in good.items() if k != "kid"},
            {**good, "kid": "enc", "use": "enc"},
            {"kty": "oct", "kid": "hmac", "k": _b64(b"secret")},
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            "not a key",
        ]
    }
    assert set(parse_jwks(json.dumps(jwks))) == {keys.active.kid}
    with pytest.raises(ValueError, match="not a JWK Set"):
        parse_jwks("[]")


# --- JwksCache ------------------------------------------------------------------------------


@dataclass
class _Published:
    """What a fake auth service publishes: the JWK Set, or an error to fail with."""

    keys: list[SigningKey]
    failure: Exception | None = None
    fetches: int = 0
    delay_s: float = 0.0
    jwks_override: str | None = None
    now: list[float] = field(default_factory=lambda: [1000.0])

    async def fetch(self) -> pb.GetJwksResponse:
        self.fetches += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.failure is not None:
            raise self.failure
        if self.jwks_override is not None:
            return pb.GetJwksResponse(jwks_json=self.jwks_override)
        jwks = {"keys": [dict(key.public_jwk) for key in self.keys]}
        return pb.GetJwksResponse(jwks_json=json.dumps(jwks))

    def cache(self, **kwargs: Any) -> JwksCache:
        kwargs.setdefault("refresh_interval_s", 3600)
        return JwksCache(self.fetch, clock=lambda: self.now[0], **kwargs)


async def _until(condition: Callable[[], bool]) -> None:
    # The cache's background task exposes no event to wait on; polling its state is enough.
    async with asyncio.timeout(2):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.fixture(scope="module")
def second_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return KeyStore.load_or_create(tmp_path_factory.mktemp("second"), "RS256").active


async def test_an_unknown_kid_refreshes_and_finds_a_key_added_after_start(
    keys: KeyStore, second_key: SigningKey
) -> None:
    published = _Published([keys.active])
    cache = published.cache()
    await cache.start()
    assert cache.kids == {keys.active.kid}
    published.keys.append(second_key)

    # Within 5 s of the last fetch an unknown kid does not cause another one.
    assert await cache.key_for(second_key.kid) is None
    assert published.fetches == 1
    published.now[0] += 5
    assert await cache.key_for(second_key.kid) is not None
    assert published.fetches == 2
    assert await cache.key_for(second_key.kid) is not None
    assert await cache.key_for(keys.active.kid) is not None
    assert published.fetches == 2
    await cache.close()


async def test_random_kids_cannot_force_a_fetch_per_request(keys: KeyStore) -> None:
    published = _Published([keys.active])
    cache = published.cache()
    await cache.start()
    published.now[0] += 60

    results = await asyncio.gather(*(cache.key_for(f"random-{i}") for i in range(50)))

    assert results == [None] * 50
    assert published.fetches == 2
    await cache.close()


async def test_concurrent_lookups_of_a_new_kid_share_one_fetch(
    keys: KeyStore, second_key: SigningKey
) -> None:
    published = _Published([keys.active])
    cache = published.cache()
    await cache.start()
    published.keys.append(second_key)
    published.now[0] += 5
    published.delay_s = 0.05

    found = await asyncio.gather(*(cache.key_for(second_key.kid) for _ in range(10)))

    assert all(key is not None for key in found)
    assert published.fetches == 2
    await cache.close()


@pytest.mark.parametrize(
    "breakage",
    [
        {"failure": grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, None, None, "down")},
        {"failure": TimeoutError()},
        {"jwks_override": "not json"},
        {"jwks_override": '{"keys": []}'},
    ],
)
async def test_a_failed_refresh_keeps_the_cached_keys(
    keys: KeyStore, breakage: dict[str, Any]
) -> None:
    published = _Published([keys.active])
    cache = published.cache()
    await cache.start()
    for name, value in breakage.items():
        setattr(published, name, value)

    assert not await cache.refresh()

    assert cache.ready
    assert await cache.key_for(keys.active.kid) is not None
    await cache.close()


async def test_a_hanging_fetch_times_out(keys: KeyStore) -> None:
    published = _Published([keys.active], delay_s=10)
    cache = published.cache(fetch_timeout_s=0.05)
    await cache.start()
    assert not cache.ready
    await cache.close()


async def test_a_failed_first_fetch_is_not_fatal_and_is_retried_soon(keys: KeyStore) -> None:
    published = _Published([keys.active], failure=ConnectionError("auth_svc down"))
    cache = published.cache(refresh_interval_s=0.02)
    await cache.start()
    assert not cache.ready
    published.failure = None

    await _until(lambda: cache.ready)
    await cache.close()


async def test_keys_are_refreshed_periodically(keys: KeyStore, second_key: SigningKey) -> None:
    published = _Published([keys.active])
    cache = published.cache(refresh_interval_s=0.02)
    await cache.start()
    published.keys = [second_key]

    await _until(lambda: cache.kids == {second_key.kid})
    await cache.close()
    fetches = published.fetches
    await asyncio.sleep(0.05)
    assert published.fetches == fetches  # closed: no more refreshes


@pytest.fixture
async def auth_server(settings: Settings) -> AsyncIterator[tuple[grpc.aio.Server, int, KeyStore]]:
    store = KeyStore.load_or_create(settings.data_dir, settings.auth.algorithm)
    server, port = await build_server(settings, keys=store, admin_credential="admin")
    await server.start()
    yield server, port, store
    await server.stop(None)


async def test_the_cache_keeps_verifying_after_auth_svc_stops(
    settings: Settings, auth_server: tuple[grpc.aio.Server, int, KeyStore]
) -> None:
    server, port, store = auth_server
    token = TokenIssuer(store, settings.auth).issue("ide-user", ["duo_chat"]).token
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        cache = JwksCache.from_auth_channel(channel, settings.auth)
        await cache.start()
        assert cache.ready
        await server.stop(None)

        assert not await cache.refresh()
        principal = await TokenVerifier(cache, settings.auth).verify(token)
        await cache.close()

    assert principal.subject == "ide-user"


async def test_a_cache_started_while_auth_svc_is_down_is_not_ready(
    settings: Settings, auth_server: tuple[grpc.aio.Server, int, KeyStore]
) -> None:
    server, port, _ = auth_server
    await server.stop(None)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        cache = JwksCache.from_auth_channel(channel, settings.auth, timeout_s=0.5)
        await cache.start()
        assert not cache.ready
        await cache.close()


# --- several issuers -------------------------------------------------------------------------


def test_an_issuer_can_only_be_trusted_with_asymmetric_algorithms(keys: KeyStore) -> None:
    for algorithms in (frozenset({"HS256"}), frozenset({"RS256", "none"}), frozenset()):
        with pytest.raises(ValueError, match="only asymmetric algorithms"):
            TrustedIssuer("https://gitlab.example.com", keys, "aud", algorithms)


def test_an_issuer_cannot_be_configured_twice(keys: KeyStore) -> None:
    twin = TrustedIssuer(AUTH.issuer, keys, AUTH.audience, GITLAB_ALGORITHMS)
    with pytest.raises(ValueError, match="configured twice"):
        TokenVerifier(keys, AUTH, trusted=[twin])


async def test_each_issuer_has_its_own_keys_audience_and_algorithms(
    keys: KeyStore, second_key: SigningKey, tmp_path: Path
) -> None:
    gitlab_keys = KeyStore.load_or_create(tmp_path, "RS256")
    gitlab = TrustedIssuer("https://gitlab.example.com", gitlab_keys, "gw", GITLAB_ALGORITHMS)
    verifier = TokenVerifier(keys, AUTH, trusted=[gitlab])
    gitlab_claims = _claims(iss=gitlab.issuer, aud="gw", gitlab_realm="self-managed")
    token = jwt.encode(
        gitlab_claims,
        gitlab_keys.active.private_key,
        algorithm="RS256",
        headers={"kid": gitlab_keys.active.kid},
    )

    principal = await verifier.verify(token)

    assert (principal.issuer, principal.issuer_kind) == (gitlab.issuer, "gitlab")
    assert principal.claim("gitlab_realm") == "self-managed"
    assert principal.claim("missing") is None
    # aigw's audience is not the GitLab issuer's, nor are aigw's keys.
    with pytest.raises(Unauthenticated, match="audience does not match"):
        await verifier.verify(
            jwt.encode(
                _claims(iss=gitlab.issuer),
                gitlab_keys.active.private_key,
                algorithm="RS256",
                headers={"kid": gitlab_keys.active.kid},
            )
        )
    with pytest.raises(Unauthenticated, match="unknown signing key"):
        await verifier.verify(_sign(keys, gitlab_claims))
    assert (await verifier.verify(_sign(keys, _claims()))).issuer_kind == "aigw"
