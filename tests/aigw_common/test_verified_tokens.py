from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jwt import PyJWK

from aigw_common.errors import Unauthenticated
from aigw_common.settings import AuthSettings
from aigw_common.token_verifier import (
    ASYMMETRIC_ALGORITHMS,
    Principal,
    TokenVerifier,
    TrustedIssuer,
)
from aigw_common.verified_tokens import VerifiedToken, VerifiedTokens
from auth_svc.keys import KeyStore
from auth_svc.tokens import TokenIssuer

AUTH = AuthSettings()


class _Keys:
    """A key set that can withdraw or replace a key, as a JWKS refresh does."""

    def __init__(self, keys: dict[str, PyJWK]) -> None:
        self.keys = keys

    async def key_for(self, kid: str) -> PyJWK | None:
        return self.keys.get(kid)


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    return KeyStore.load_or_create(tmp_path_factory.mktemp("keys"), "RS256")


def _entry(keys: _Keys, kid: str, expires_at: float, subject: str = "ide-user") -> VerifiedToken:
    principal = Principal(subject, frozenset(), "aigw", datetime.fromtimestamp(expires_at, UTC))
    issuer = TrustedIssuer("aigw", keys, "aud", ASYMMETRIC_ALGORITHMS, kind="aigw")
    return VerifiedToken(principal, issuer, kid, keys.keys[kid], expires_at)


async def _cached_key(store: KeyStore) -> _Keys:
    key = await store.key_for(store.active.kid)
    assert key is not None
    return _Keys({store.active.kid: key})


async def test_an_entry_never_outlives_the_tokens_exp(store: KeyStore) -> None:
    keys, clock = await _cached_key(store), _Clock()
    cache = VerifiedTokens(10, clock)
    cache.remember("t", _entry(keys, store.active.kid, expires_at=1_010.0))
    assert (await cache.principal("t")) is not None
    clock.now = 1_009.999
    assert (await cache.principal("t")) is not None
    clock.now = 1_010.0
    assert await cache.principal("t") is None
    assert len(cache) == 0
    # Nor is an already expired one stored.
    cache.remember("u", _entry(keys, store.active.kid, expires_at=1_000.0))
    assert len(cache) == 0


async def test_a_withdrawn_or_replaced_key_stops_its_cached_tokens(
    store: KeyStore, tmp_path: Path
) -> None:
    keys, clock = await _cached_key(store), _Clock()
    cache = VerifiedTokens(10, clock)
    kid = store.active.kid
    cache.remember("t", _entry(keys, kid, expires_at=2_000.0))
    other = KeyStore.load_or_create(tmp_path, "RS256")
    replacement = await other.key_for(other.active.kid)
    assert replacement is not None
    keys.keys[kid] = replacement
    assert await cache.principal("t") is None
    cache.remember("t", _entry(keys, kid, expires_at=2_000.0))
    del keys.keys[kid]
    assert await cache.principal("t") is None


async def test_the_cache_is_bounded_least_recently_used_first(store: KeyStore) -> None:
    keys, clock = await _cached_key(store), _Clock()
    cache = VerifiedTokens(2, clock)
    for token in ("a", "b"):
        cache.remember(token, _entry(keys, store.active.kid, 2_000.0, subject=token))
    assert (await cache.principal("a")) is not None  # "b" is now the least recently used
    cache.remember("c", _entry(keys, store.active.kid, 2_000.0, subject="c"))
    assert len(cache) == 2
    assert await cache.principal("b") is None
    assert [(await cache.principal(t)).subject for t in ("a", "c")] == ["a", "c"]  # type: ignore[union-attr]


async def test_size_zero_remembers_nothing(store: KeyStore) -> None:
    keys = await _cached_key(store)
    cache = VerifiedTokens(0)
    cache.remember("t", _entry(keys, store.active.kid, expires_at=4e9))
    assert len(cache) == 0


async def test_the_verifier_answers_a_known_token_alike_and_drops_it_with_its_key(
    store: KeyStore,
) -> None:
    keys = await _cached_key(store)
    verifier = TokenVerifier(keys, AUTH)
    token = TokenIssuer(store, AUTH).issue("ide-user", ["code_suggestions"]).token
    first = await verifier.verify(token)
    assert await verifier.verify(token) == first
    # A one-character change is another token: verified (and refused) on its own.
    with pytest.raises(Unauthenticated):
        await verifier.verify(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
    del keys.keys[store.active.kid]
    with pytest.raises(Unauthenticated, match="unknown signing key"):
        await verifier.verify(token)


async def test_a_hit_evicted_while_its_key_is_looked_up_is_still_answered(
    store: KeyStore,
) -> None:
    keys, clock = await _cached_key(store), _Clock()
    kid = store.active.kid
    looking_up = asyncio.Event()
    evicted = asyncio.Event()
    key = keys.keys[kid]

    class _SlowKeys(_Keys):
        async def key_for(self, kid: str) -> PyJWK | None:
            looking_up.set()
            await evicted.wait()
            return key

    slow = _SlowKeys({kid: key})
    cache = VerifiedTokens(1, clock)
    cache.remember("a", _entry(slow, kid, 2_000.0, subject="a"))
    hit = asyncio.create_task(cache.principal("a"))
    await looking_up.wait()
    cache.remember("b", _entry(keys, kid, 2_000.0, subject="b"))  # evicts "a"
    evicted.set()
    principal = await hit
    assert principal is not None
    assert principal.subject == "a"
    assert len(cache) == 1
