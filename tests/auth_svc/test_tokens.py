from __future__ import annotations

import time
import uuid
from datetime import timedelta
from pathlib import Path

import jwt
import pytest

from aigw_common.errors import InvalidArgument
from aigw_common.settings import AuthSettings
from auth_svc.keys import KeyStore
from auth_svc.tokens import TokenIssuer

AUTH = AuthSettings(token_ttl_s=600, max_token_ttl_s=3600)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    return KeyStore.load_or_create(tmp_path_factory.mktemp("keys"), "RS256")


def _decode(keys: KeyStore, token: str) -> dict[str, object]:
    return jwt.decode(token, keys.active.verifier, algorithms=["RS256"], audience=AUTH.audience)


def test_issued_token_carries_every_claim_and_the_kid(keys: KeyStore) -> None:
    issued = TokenIssuer(keys, AUTH, clock=lambda: 1_900_000_000.7).issue(
        "ide-user", ["code_suggestions", "duo_chat"]
    )

    header = jwt.get_unverified_header(issued.token)
    assert header["kid"] == keys.active.kid
    assert header["alg"] == "RS256"
    claims = jwt.decode(
        issued.token,
        keys.active.verifier,
        algorithms=["RS256"],
        audience=AUTH.audience,
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims == {
        "iss": "aigw",
        "aud": "gitlab-ai-gateway",
        "sub": "ide-user",
        "iat": 1_900_000_000,
        "nbf": 1_900_000_000,
        "exp": 1_900_000_600,
        "jti": issued.jti,
        "scopes": ["code_suggestions", "duo_chat"],
    }
    assert uuid.UUID(issued.jti).version == 4
    assert issued.expires_at.timestamp() == 1_900_000_600


def test_each_token_gets_its_own_jti(keys: KeyStore) -> None:
    issuer = TokenIssuer(keys, AUTH)
    assert issuer.issue("a", ["x"]).jti != issuer.issue("a", ["x"]).jti


@pytest.mark.parametrize(
    ("ttl", "lifetime"),
    [(None, 600), (timedelta(0), 600), (timedelta(seconds=1), 1), (timedelta(hours=1), 3600)],
)
def test_lifetime_defaults_and_honours_a_requested_ttl(
    keys: KeyStore, ttl: timedelta | None, lifetime: int
) -> None:
    issued = TokenIssuer(keys, AUTH).issue("a", ["x"], ttl)

    claims = _decode(keys, issued.token)
    assert claims["exp"] == claims["iat"] + lifetime  # type: ignore[operator]
    assert abs(issued.expires_at.timestamp() - (time.time() + lifetime)) < 5


@pytest.mark.parametrize(
    "ttl", [timedelta(seconds=3601), timedelta(milliseconds=500), timedelta(seconds=-5)]
)
def test_a_ttl_outside_the_limits_is_refused_naming_the_field(
    keys: KeyStore, ttl: timedelta
) -> None:
    with pytest.raises(InvalidArgument, match="between 1 s and 3600 s") as raised:
        TokenIssuer(keys, AUTH).issue("a", ["x"], ttl)
    assert raised.value.field == "ttl"


def test_tokens_are_signed_by_the_active_key(tmp_path: Path) -> None:
    store = KeyStore.load_or_create(tmp_path, "EdDSA")
    token = TokenIssuer(store, AUTH).issue("a", ["x"]).token

    assert jwt.get_unverified_header(token) == {
        "alg": "EdDSA",
        "kid": store.active.kid,
        "typ": "JWT",
    }
    assert _decode_eddsa(store, token)["sub"] == "a"


def _decode_eddsa(store: KeyStore, token: str) -> dict[str, object]:
    return jwt.decode(token, store.active.verifier, algorithms=["EdDSA"], audience=AUTH.audience)
