from __future__ import annotations

import json
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import jwt
import pytest

from aigw_common.errors import FailedPrecondition
from aigw_common.private_files import create_exclusive
from auth_svc.keys import KEYS_DIR, Algorithm, KeyStore, SigningKey, jwk_thumbprint
from auth_svc.keyset_file import KEYSET_FILE

T0 = datetime(2030, 1, 1, tzinfo=UTC)
RETENTION_S = 3600


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _pem_files(data_dir: Path) -> set[str]:
    return {path.name for path in (data_dir / KEYS_DIR).glob("*.pem")}


def _keyset(data_dir: Path) -> dict[str, dict[str, str | None]]:
    document = json.loads((data_dir / KEYS_DIR / KEYSET_FILE).read_text())
    return {entry["kid"]: entry for entry in document["keys"]}


def test_first_start_writes_owner_only_keys_that_later_starts_reuse(tmp_path: Path) -> None:
    first = KeyStore.load_or_create(tmp_path, "RS256")

    keys_dir = tmp_path / KEYS_DIR
    assert _mode(keys_dir) == 0o700
    assert {path.name for path in keys_dir.iterdir()} == {KEYSET_FILE} | _pem_files(tmp_path)
    assert all(_mode(path) == 0o600 for path in keys_dir.iterdir())
    assert all(b"PRIVATE KEY" in (keys_dir / name).read_bytes() for name in _pem_files(tmp_path))
    # The signer, and the next signer published ahead of its first token.
    assert [record.state for record in first.records()] == ["active", "next"]
    second = KeyStore.load_or_create(tmp_path, "RS256")
    assert second.active.kid == first.active.kid
    assert second.jwks() == first.jwks()


@pytest.mark.parametrize("algorithm", get_args(Algorithm))
def test_jwks_publishes_each_public_key_with_kid_alg_and_use(
    tmp_path: Path, algorithm: Algorithm
) -> None:
    store = KeyStore.load_or_create(tmp_path, algorithm)

    jwks = json.loads(store.jwks_json())["keys"]
    assert [jwk["kid"] for jwk in jwks] == [key.kid for key in store.keys]
    for jwk in jwks:
        assert jwk["kid"] == jwk_thumbprint(jwk)
        assert jwk["alg"] == algorithm
        assert jwk["use"] == "sig"
        assert "d" not in jwk  # no private part
    token = jwt.encode({"x": 1}, store.active.private_key, algorithm=algorithm)
    active_jwk = next(jwk for jwk in jwks if jwk["kid"] == store.active.kid)
    assert jwt.decode(token, jwt.PyJWK(active_jwk), algorithms=[algorithm]) == {"x": 1}


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


def test_processes_starting_together_all_end_up_with_the_same_keys(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        stores = list(pool.map(lambda _: KeyStore.load_or_create(tmp_path, "ES256"), range(8)))

    assert len({store.active.kid for store in stores}) == 1
    assert len({store.jwks_json() for store in stores}) == 1
    # The losers' keys were removed: only the key set's own files remain, no temporary ones.
    assert _pem_files(tmp_path) == {f"{key.kid}.pem" for key in stores[0].keys}
    assert not list((tmp_path / KEYS_DIR).glob(".*"))


def test_create_exclusive_never_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    assert create_exclusive(path, b"first")
    assert not create_exclusive(path, b"second")
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["file"]  # no temporary files left


def test_a_readable_key_file_is_made_owner_only(tmp_path: Path) -> None:
    store = KeyStore.load_or_create(tmp_path, "EdDSA")
    key_file = tmp_path / KEYS_DIR / f"{store.active.kid}.pem"
    key_file.chmod(0o644)

    KeyStore.load_or_create(tmp_path, "EdDSA")

    assert _mode(key_file) == 0o600


def test_a_damaged_key_file_stops_start_up_with_a_clear_error(tmp_path: Path) -> None:
    store = KeyStore.load_or_create(tmp_path, "ES256")
    (tmp_path / KEYS_DIR / f"{store.active.kid}.pem").write_bytes(b"not a key")

    with pytest.raises(FailedPrecondition, match="cannot be read as an unencrypted PEM"):
        KeyStore.load_or_create(tmp_path, "ES256")


def test_a_missing_key_file_stops_start_up_with_a_clear_error(tmp_path: Path) -> None:
    store = KeyStore.load_or_create(tmp_path, "ES256")
    (tmp_path / KEYS_DIR / f"{store.active.kid}.pem").unlink()

    with pytest.raises(FailedPrecondition, match="is missing"):
        KeyStore.load_or_create(tmp_path, "ES256")


@pytest.mark.parametrize(
    "damage",
    [
        lambda doc: "not json",
        lambda doc: json.dumps({**doc, "version": 99}),
        lambda doc: json.dumps({**doc, "keys": [{**k, "state": "active"} for k in doc["keys"]]}),
        lambda doc: json.dumps({**doc, "keys": [{**doc["keys"][0], "file": "../../etc/passwd"}]}),
        lambda doc: json.dumps({**doc, "keys": [{**doc["keys"][0], "created_at": "yesterday"}]}),
    ],
)
def test_a_damaged_key_set_stops_start_up_with_a_clear_error(
    tmp_path: Path, damage: Callable[[dict[str, Any]], str]
) -> None:
    KeyStore.load_or_create(tmp_path, "ES256")
    path = tmp_path / KEYS_DIR / KEYSET_FILE
    path.write_text(damage(json.loads(path.read_text())))

    with pytest.raises(FailedPrecondition, match=r"key set .* is damaged"):
        KeyStore.load_or_create(tmp_path, "ES256")


def test_a_key_file_from_before_rotation_keeps_signing(tmp_path: Path) -> None:
    keys_dir = tmp_path / KEYS_DIR
    keys_dir.mkdir(mode=0o700)
    legacy = SigningKey.generate("RS256")
    create_exclusive(keys_dir / "signing-rs256.pem", legacy.to_pem())

    store = KeyStore.load_or_create(tmp_path, "RS256")

    assert store.active.kid == legacy.kid
    assert _keyset(tmp_path)[legacy.kid]["file"] == "signing-rs256.pem"
    assert KeyStore.load_or_create(tmp_path, "RS256").active.kid == legacy.kid


def test_a_key_of_another_type_is_refused(tmp_path: Path) -> None:
    keys_dir = tmp_path / KEYS_DIR
    keys_dir.mkdir(mode=0o700)
    create_exclusive(keys_dir / "signing-rs256.pem", SigningKey.generate("EdDSA").to_pem())

    with pytest.raises(FailedPrecondition, match="does not fit algorithm RS256"):
        KeyStore.load_or_create(tmp_path, "RS256")


async def test_key_for_finds_only_an_exact_kid(tmp_path: Path) -> None:
    store = KeyStore.load_or_create(tmp_path, "ES256")
    kid = store.active.kid

    assert await store.key_for(kid) is store.active.verifier
    assert await store.key_for(kid[:-1]) is None
    assert await store.key_for(kid.lower() if kid != kid.lower() else kid.upper()) is None


# --- rotation -------------------------------------------------------------------------------


def test_rotation_promotes_the_published_next_key_and_keeps_the_old_one_verifying(
    tmp_path: Path,
) -> None:
    clock = Clock()
    store = KeyStore.load_or_create(tmp_path, "ES256", clock=clock)
    old, upcoming = store.active, store.records()[1]
    clock.advance(60)

    promoted = store.rotate(SigningKey.generate("ES256"), retention_s=RETENTION_S)

    # The new signer is the key every verifier has had since the last change.
    assert promoted.kid == upcoming.kid == store.active.kid
    states = {record.kid: record for record in store.records()}
    assert states[old.kid].state == "retiring"
    assert states[old.kid].deactivated_at == clock.now
    assert states[old.kid].retire_at == clock.now + timedelta(seconds=RETENTION_S)
    assert [record.state for record in store.records()] == ["active", "next", "retiring"]
    assert {jwk["kid"] for jwk in store.jwks()["keys"]} == set(states)
    assert _pem_files(tmp_path) == {f"{kid}.pem" for kid in states}
    # The state survives a restart.
    reloaded = KeyStore.load_or_create(tmp_path, "ES256", clock=clock)
    assert reloaded.records() == store.records()
    assert _keyset(tmp_path)[old.kid]["state"] == "retiring"


def test_rotating_again_too_soon_is_refused(tmp_path: Path) -> None:
    clock = Clock()
    store = KeyStore.load_or_create(tmp_path, "ES256", clock=clock)

    with pytest.raises(FailedPrecondition, match="changed less than 10 s ago"):
        store.rotate(SigningKey.generate("ES256"), retention_s=RETENTION_S)
    clock.advance(10)
    store.rotate(SigningKey.generate("ES256"), retention_s=RETENTION_S)
    clock.advance(5)
    with pytest.raises(FailedPrecondition) as refused:
        store.rotate(SigningKey.generate("ES256"), retention_s=RETENTION_S)
    assert refused.value.metadata == {"retry_after_s": "5"}


def test_a_retiring_key_is_removed_from_the_key_set_and_disk_once_its_tokens_expired(
    tmp_path: Path,
) -> None:
    clock = Clock()
    store = KeyStore.load_or_create(tmp_path, "RS256", clock=clock)
    old = store.active
    clock.advance(60)
    store.rotate(SigningKey.generate("RS256"), retention_s=RETENTION_S)

    clock.advance(RETENTION_S - 1)
    assert store.retire_expired() == []
    clock.advance(1)
    assert store.retire_expired() == [old.kid]

    assert old.kid not in {key.kid for key in store.keys}
    assert f"{old.kid}.pem" not in _pem_files(tmp_path)
    assert old.kid not in _keyset(tmp_path)
    assert KeyStore.load_or_create(tmp_path, "RS256", clock=clock).jwks() == store.jwks()


def test_rotation_uses_the_configured_algorithm_for_the_key_after_next(tmp_path: Path) -> None:
    clock = Clock()
    store = KeyStore.load_or_create(tmp_path, "RS256", clock=clock)
    clock.advance(60)

    store.rotate(SigningKey.generate("EdDSA"), retention_s=RETENTION_S)
    assert [record.algorithm for record in store.records()] == ["RS256", "EdDSA", "RS256"]
    clock.advance(60)
    store.rotate(SigningKey.generate("EdDSA"), retention_s=RETENTION_S)

    assert store.active.algorithm == "EdDSA"
    assert [record.algorithm for record in store.records()] == ["EdDSA", "EdDSA", "RS256", "RS256"]
