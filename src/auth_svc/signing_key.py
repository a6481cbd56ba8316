"""One signing key: an asymmetric private key, its public JWK and its RFC 7638 key id."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt import PyJWK
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from aigw_common.errors import FailedPrecondition
from aigw_common.private_files import read_private

Algorithm: TypeAlias = Literal["RS256", "ES256", "EdDSA"]
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

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

    @classmethod
    def generate(cls, algorithm: Algorithm) -> SigningKey:
        """A fresh key (RSA takes a moment: call it off the event loop)."""
        return cls.from_private_key(_generate(algorithm), algorithm)

    @classmethod
    def load(cls, path: Path, algorithm: Algorithm) -> SigningKey:
        """The key in the PEM file at `path`; FailedPrecondition if it is unusable."""
        return cls.from_private_key(_load_pem(path), algorithm)

    @classmethod
    def from_pem(cls, pem: bytes, algorithm: Algorithm, *, where: str) -> SigningKey:
        """The key in `pem` (stored at `where`, for messages); FailedPrecondition if unusable."""
        return cls.from_private_key(_parse_pem(pem, where), algorithm)

    def to_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM (the file is owner-only)."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _generate(algorithm: Algorithm) -> PrivateKey:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def _load_pem(path: Path) -> PrivateKey:
    try:
        pem = read_private(path)
    except FileNotFoundError:
        raise FailedPrecondition(
            f"the signing key file {path} is missing; restore it, or remove the keys "
            "directory to start over with new keys (tokens already issued then stop working)"
        ) from None
    return _parse_pem(pem, f"file {path}")


def _parse_pem(pem: bytes, where: str) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise FailedPrecondition(
            f"the signing key {where} cannot be read as an unencrypted PEM private key "
            f"({type(error).__name__}); restore it or remove it to generate a new key"
        ) from None
    if not isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise FailedPrecondition(f"the signing key {where} holds an unsupported key type")
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
