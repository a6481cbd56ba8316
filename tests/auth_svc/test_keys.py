from __future__ import annotations

import json
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import get_args

import jwt
import pytest

from aigw_common.errors import FailedPrecondition
from aigw_common.private_files import create_exclusive
from auth_svc.keys import KEYS_DIR, Algorithm, KeyStore, jwk_thumbprint


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_writes_an_owner_only_key_that_later_starts_reuse(tmp_path: Path) -> None:
    first = KeyStore.load_or_create(tmp_path, "RS256")

    keys_dir = tmp_path / KEYS_DIR
    (key_file,) = keys_dir.iterdir()
    assert _mode(keys_dir) == 0o700
    assert _mode(key_file) == 0o600
    assert b"PRIVATE KEY" in key_file.read_bytes()
    second = KeyStore.load_or_create(tmp_path, "RS256")
    assert second.active.kid == first.active.kid
    assert second.jwks() == first.jwks()


@pytest.mark.parametrize("algorithm", get_args(Algorithm))
def test_jwks_publishes_each_public_key_with_kid_alg_and_use(
    tmp_path: Path, algorithm: Algorithm
) -> None:
    store = KeyStore.load_or_create(tmp_path, algorithm)

    (jwk,) = json.loads(store.jwks_json())["keys"]
    assert jwk["kid"] == store.active.kid == jwk_thumbprint(jwk)
    assert jwk["alg"] == algorithm
    assert jwk["use"] == "sig"
    assert "d" not in jwk  # no private part
    token = jwt.encode({"x": 1}, store.active.private_key, algorithm=algorithm)
    assert jwt.decode(token, jwt.PyJWK(jwk), algorithms=[algorithm]) == {"x": 1}


def test_thumbprint_matches_the_rfc_7638_example() -> None:
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
        "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
        "65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLy"
        "rdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJz"
        "KnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_processes_starting_together_all_end_up_with_the_same_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        stores = list(pool.map(lambda _: KeyStore.load_or_create(tmp_path, "ES256"), range(8)))

    assert len({store.active.kid for store in stores}) == 1
    assert [path.name for path in (tmp_path / KEYS_DIR).iterdir()] == ["signing-es256.pem"]


def test_create_exclusive_never_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    assert create_exclusive(path, b"first")
    assert not create_exclusive(path, b"second")
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["file"]  # no temporary files left


def test_a_readable_key_file_is_made_owner_only(tmp_path: Path) -> None:
    KeyStore.load_or_create(tmp_path, "EdDSA")
    key_file = tmp_path / KEYS_DIR / "signing-eddsa.pem"
    key_file.chmod(0o644)

    KeyStore.load_or_create(tmp_path, "EdDSA")

    assert _mode(key_file) == 0o600


def test_a_damaged_key_file_stops_start_up_with_a_clear_error(tmp_path: Path) -> None:
    KeyStore.load_or_create(tmp_path, "ES256")
    (tmp_path / KEYS_DIR / "signing-es256.pem").write_bytes(b"not a key")

    with pytest.raises(FailedPrecondition, match="cannot be read as an unencrypted PEM"):
        KeyStore.load_or_create(tmp_path, "ES256")


def test_a_key_of_another_type_is_refused(tmp_path: Path) -> None:
    KeyStore.load_or_create(tmp_path, "EdDSA")
    keys_dir = tmp_path / KEYS_DIR
    (keys_dir / "signing-eddsa.pem").rename(keys_dir / "signing-rs256.pem")

    with pytest.raises(FailedPrecondition, match="does not fit algorithm RS256"):
        KeyStore.load_or_create(tmp_path, "RS256")


async def test_key_for_finds_only_an_exact_kid(tmp_path: Path) -> None:
    store = KeyStore.load_or_create(tmp_path, "ES256")
    kid = store.active.kid

    assert await store.key_for(kid) is store.active.verifier
    assert await store.key_for(kid[:-1]) is None
    assert await store.key_for(kid.lower() if kid != kid.lower() else kid.upper()) is None
