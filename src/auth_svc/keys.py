"""The signing keys: one active signer, plus (after a rotation) older keys that still verify.

The private key lives in `<data_dir>/keys/signing-<alg>.pem` (dir 0700, file 0600). It is
generated on first start and reused afterwards; when two processes start at once, both end up
with whichever key was written first. Each key is known by its RFC 7638 thumbprint (`kid`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias, cast

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt import PyJWK
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from aigw_common.errors import FailedPrecondition
from aigw_common.private_files import create_exclusive, ensure_private_dir, read_private

_log = structlog.get_logger(__name__)

Algorithm: TypeAlias = Literal["RS256", "ES256", "EdDSA"]
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

KEYS_DIR = "keys"
_RSA_BITS = 2048

# RFC 7638 §3.2: the required members of each key type, which alone make up the thumbprint.
_THUMBPRINT_MEMBERS: dict[str, tuple[str, ...]] = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url without padding."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    """A private key with its public JWK (kid, alg, use) and the PyJWK that verifies with it."""

    kid: str
    algorithm: Algorithm
    private_key: PrivateKey = field(repr=False)
    public_jwk: Mapping[str, str]
    verifier: PyJWK

    @classmethod
    def from_private_key(cls, private_key: PrivateKey, algorithm: Algorithm) -> SigningKey:
        _check_key_type(private_key, algorithm)
        jwk = _public_jwk(private_key)
        # RFC 7517 §4.3: `use` and `key_ops` should not both be present.
        jwk.pop("key_ops", None)
        kid = jwk_thumbprint(jwk)
        jwk.update(kid=kid, alg=algorithm, use="sig")
        return cls(kid, algorithm, private_key, jwk, PyJWK(dict(jwk), algorithm))


class KeyStore:
    """The keys that verify tokens, exactly one of which signs new ones."""

    def __init__(self, keys: Sequence[SigningKey], active_kid: str) -> None:
        by_kid = {key.kid: key for key in keys}
        if active_kid not in by_kid:
            raise ValueError("the active key must be one of the keys")
        self._by_kid = by_kid
        self._active = by_kid[active_kid]

    @classmethod
    def load_or_create(cls, data_dir: Path, algorithm: Algorithm) -> KeyStore:
        """The store for `algorithm` in `data_dir`, generating its key on first start."""
        keys_dir = data_dir / KEYS_DIR
        ensure_private_dir(keys_dir)
        path = keys_dir / f"signing-{algorithm.lower()}.pem"
        if not path.exists():
            created = create_exclusive(path, _to_pem(_generate(algorithm)))
            if created:
                _log.info("generated a signing key", path=str(path), algorithm=algorithm)
        key = SigningKey.from_private_key(_load_pem(path), algorithm)
        _log.info("signing key loaded", kid=key.kid, algorithm=algorithm)
        return cls([key], key.kid)

    @property
    def active(self) -> SigningKey:
        """The key that signs new tokens."""
        return self._active

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        """Every key that verifies tokens, the active one included."""
        return tuple(self._by_kid.values())

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public keys as an RFC 7517 JWK Set."""
        return {"keys": [dict(key.public_jwk) for key in self._by_kid.values()]}

    def jwks_json(self) -> str:
        return json.dumps(self.jwks(), separators=(",", ":"))

    async def key_for(self, kid: str) -> PyJWK | None:
        """The public key with exactly this `kid`, if it is one of ours."""
        key = self._by_kid.get(kid)
        return key.verifier if key is not None else None


def _generate(algorithm: Algorithm) -> PrivateKey:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def _to_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_pem(path: Path) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(read_private(path), password=None)
    except (ValueError, TypeError) as error:
        raise FailedPrecondition(
            f"the signing key file {path} cannot be read as an unencrypted PEM private key "
            f"({type(error).__name__}); restore it or remove it to generate a new key"
        ) from None
    if not isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise FailedPrecondition(f"the signing key file {path} holds an unsupported key type")
    return key


def _check_key_type(key: PrivateKey, algorithm: Algorithm) -> None:
    fits = (
        (algorithm == "RS256" and isinstance(key, rsa.RSAPrivateKey) and key.key_size >= _RSA_BITS)
        or (
            algorithm == "ES256"
            and isinstance(key, ec.EllipticCurvePrivateKey)
            and isinstance(key.curve, ec.SECP256R1)
        )
        or (algorithm == "EdDSA" and isinstance(key, ed25519.Ed25519PrivateKey))
    )
    if not fits:
        raise FailedPrecondition(f"the signing key does not fit algorithm {algorithm}")


def _public_jwk(key: PrivateKey) -> dict[str, str]:
    jwk: object
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return dict(cast("Mapping[str, str]", jwk))
