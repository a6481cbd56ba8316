"""Forged, stale and misdirected tokens are refused by the router over gRPC and by the REST shim
with GitLab's statuses and bodies; valid ones from both trusted issuers are served.

Each attack is built against aigw's own issuer and against the GitLab-like OIDC issuer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization

from aigw.modelproxy.v1 import model_proxy_service_pb2, model_proxy_service_pb2_grpc
from auth_svc.signing_key import SigningKey
from rest_shim.routes import code_completions
from tests.oidc_issuer import AUDIENCE, INSTANCE_ID
from tests.security.conftest import SecureStack, grpc_outcome, rest_outcome, secure_stack

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecureStack]:
    async with secure_stack(tmp_path_factory.mktemp("attacks")) as running:
        yield running


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Issuer:
    """How to make tokens as one trusted issuer (or as someone pretending to be it)."""

    name: str
    iss: str
    aud: str
    key: SigningKey
    scopes: list[str]
    headers: dict[str, str]

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.iss,
            "aud": self.aud,
            "sub": INSTANCE_ID if self.name == "gitlab" else "ide-user",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": f"jti-{now}",
            "scopes": self.scopes,
        }
        if self.name == "gitlab":
            claims |= {"gitlab_realm": "self-managed", "gitlab_instance_id": INSTANCE_ID}
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(self, claims: dict[str, Any] | None = None, *, key: SigningKey | None = None) -> str:
        key = key or self.key
        return jwt.encode(
            claims or self.claims(),
            key.private_key,
            algorithm=key.algorithm,
            headers={"kid": key.kid},
        )

    def unsigned(self, header: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
        signing_input = (
            f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(self.claims()).encode())}"
        )
        return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def _issuers(stack: SecureStack) -> dict[str, Issuer]:
    auth = stack.settings.auth
    gitlab_headers = {
        "X-Gitlab-Authentication-Type": "oidc",
        "X-Gitlab-Instance-Id": INSTANCE_ID,
        "X-Gitlab-Realm": "self-managed",
    }
    return {
        "aigw": Issuer(
            "aigw", auth.issuer, auth.audience, stack.auth.keys.active, ["complete_code"], {}
        ),
        "gitlab": Issuer(
            "gitlab",
            stack.gitlab.url,
            AUDIENCE,
            stack.gitlab.key,
            ["complete_code"],
            gitlab_headers,
        ),
    }


# Each attack: (name, how to make the token from an issuer, the message both sides report).
def _alg_none(issuer: Issuer) -> str:
    return issuer.unsigned({"alg": "none", "typ": "JWT", "kid": issuer.key.kid}, lambda _: b"")


def _hs256_with_public_key(issuer: Issuer) -> str:
    public_pem = issuer.key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": issuer.key.kid}
    return issuer.unsigned(header, lambda data: hmac.digest(public_pem, data, hashlib.sha256))


def _tampered(issuer: Issuer) -> str:
    header, _, signature = issuer.sign().split(".")
    forged = _b64(json.dumps(issuer.claims(scopes=["complete_code", "duo_chat"])).encode())
    return f"{header}.{forged}.{signature}"


def _unknown_kid(issuer: Issuer) -> str:
    stranger = SigningKey.generate("RS256")
    return issuer.sign(key=stranger)


NOT_ALLOWED = "token signing algorithm is not allowed"
ATTACKS: list[tuple[str, Callable[[Issuer], str], str]] = [
    ("alg none", _alg_none, NOT_ALLOWED),
    ("HS256 signed with the RSA public key", _hs256_with_public_key, NOT_ALLOWED),
    ("expired", lambda i: i.sign(i.claims(exp=int(time.time()) - 3600)), "token expired"),
    (
        "not yet valid",
        lambda i: i.sign(i.claims(nbf=int(time.time()) + 3600)),
        "token is not valid yet",
    ),
    ("wrong aud", lambda i: i.sign(i.claims(aud="someone-else")), "token audience does not match"),
    (
        "wrong iss",
        lambda i: i.sign(i.claims(iss="https://evil.example")),
        "token issuer does not match",
    ),
    ("unknown kid", _unknown_kid, "unknown signing key"),
    ("tampered payload", _tampered, "token signature is invalid"),
    ("truncated", lambda i: i.sign()[:-30], "token signature is invalid"),
    ("truncated to two parts", lambda i: i.sign().rsplit(".", 1)[0], "token is malformed"),
    (
        "oversized",
        lambda i: i.sign(i.claims(padding="x" * 9000)),
        "token too large (the limit is 8192 bytes)",
    ),
    ("no exp", lambda i: i.sign(i.claims(exp=None)), "token has no 'exp' claim"),
]


@pytest.mark.parametrize("issuer_name", ["aigw", "gitlab"])
@pytest.mark.parametrize(("attack", "make", "message"), ATTACKS, ids=[a[0] for a in ATTACKS])
async def test_an_attack_is_refused_over_grpc_and_rest(
    stack: SecureStack,
    issuer_name: str,
    attack: str,
    make: Callable[[Issuer], str],
    message: str,
) -> None:
    issuer = _issuers(stack)[issuer_name]
    token = make(issuer)

    code, details = await grpc_outcome(
        stack, [("authorization", f"Bearer {token}"), *_lower(issuer.headers)]
    )
    status, body = await rest_outcome(stack, {"Authorization": f"Bearer {token}", **issuer.headers})

    assert (code, details) == (grpc.StatusCode.UNAUTHENTICATED, message)
    assert (status, body) == (401, {"error": message})
    assert token[-20:] not in details


@pytest.mark.parametrize("issuer_name", ["aigw", "gitlab"])
async def test_valid_tokens_from_both_issuers_are_served(
    stack: SecureStack, issuer_name: str
) -> None:
    issuer = _issuers(stack)[issuer_name]
    token = issuer.sign()

    code, text = await grpc_outcome(
        stack, [("authorization", f"Bearer {token}"), *_lower(issuer.headers)]
    )
    status, body = await rest_outcome(stack, {"Authorization": f"Bearer {token}", **issuer.headers})

    assert code == grpc.StatusCode.OK
    assert text
    assert status == 200
    assert body["choices"] == [{"text": text, "index": 0, "finish_reason": "length"}]


@pytest.mark.parametrize("issuer_name", ["aigw", "gitlab"])
async def test_a_missing_scope_is_permission_denied(stack: SecureStack, issuer_name: str) -> None:
    issuer = _issuers(stack)[issuer_name]
    token = issuer.sign(issuer.claims(scopes=["duo_chat"]))

    code, details = await grpc_outcome(
        stack, [("authorization", f"Bearer {token}"), *_lower(issuer.headers)]
    )
    status, body = await rest_outcome(stack, {"Authorization": f"Bearer {token}", **issuer.headers})

    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "complete_code" in details
    # The REST route answers in GitLab's own words for its feature.
    assert (status, body) == (403, {"detail": code_completions.FORBIDDEN})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"X-Gitlab-Instance-Id": "another-instance"}, "Header mismatch 'X-Gitlab-Instance-Id'"),
        ({"X-Gitlab-Instance-Id": None}, "Header mismatch 'X-Gitlab-Instance-Id'"),
        ({"X-Gitlab-Realm": "saas"}, "Header mismatch 'X-Gitlab-Realm'"),
        ({"X-Gitlab-Realm": None}, "Header mismatch 'X-Gitlab-Realm'"),
        (
            {"X-Gitlab-Authentication-Type": None},
            "Invalid authentication token type - only OIDC is supported",
        ),
        (
            {"X-Gitlab-Authentication-Type": "pat"},
            "Invalid authentication token type - only OIDC is supported",
        ),
    ],
)
async def test_gitlab_headers_must_agree_with_the_token(
    stack: SecureStack, change: dict[str, str | None], message: str
) -> None:
    issuer = _issuers(stack)["gitlab"]
    headers = {name: value for name, value in {**issuer.headers, **change}.items() if value}
    token = issuer.sign()

    code, details = await grpc_outcome(
        stack, [("authorization", f"Bearer {token}"), *_lower(headers)]
    )
    status, body = await rest_outcome(stack, {"Authorization": f"Bearer {token}", **headers})

    assert (code, details) == (grpc.StatusCode.UNAUTHENTICATED, message)
    assert (status, body) == (401, {"error": message})


async def test_the_instance_claim_is_checked_against_the_header_after_the_realm(
    stack: SecureStack,
) -> None:
    # The subject of an instance token is the instance: a token naming another one fails too.
    issuer = _issuers(stack)["gitlab"]
    token = issuer.sign(issuer.claims(sub="another-instance"))

    status, body = await rest_outcome(stack, {"Authorization": f"Bearer {token}", **issuer.headers})

    assert (status, body) == (401, {"error": "Header mismatch 'X-Gitlab-Instance-Id'"})


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "No authorization header presented"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Invalid authorization header"),
        ({"Authorization": "Bearer"}, "Invalid authorization header"),
        ({"Authorization": "Bearer not-a-jwt"}, "token is malformed"),
    ],
)
async def test_a_missing_or_malformed_authorization_header(
    stack: SecureStack, headers: dict[str, str], message: str
) -> None:
    code, details = await grpc_outcome(stack, list(_lower(headers)))
    status, body = await rest_outcome(stack, headers)

    assert (code, details) == (grpc.StatusCode.UNAUTHENTICATED, message)
    assert (status, body) == (401, {"error": message})


async def test_one_issuers_key_cannot_vouch_for_the_other(stack: SecureStack) -> None:
    issuers = _issuers(stack)
    aigw, gitlab = issuers["aigw"], issuers["gitlab"]
    # A GitLab-issued claim set signed with aigw's key, and the other way round.
    as_gitlab = gitlab.sign(gitlab.claims(), key=aigw.key)
    as_aigw = aigw.sign(aigw.claims(), key=gitlab.key)
    # GitLab instances sign RS256 only; aigw's ES256 would be fine for aigw itself.
    es256 = SigningKey.generate("ES256")
    gitlab_es256 = gitlab.sign(gitlab.claims(), key=es256)

    for token, headers, message in [
        (as_gitlab, gitlab.headers, "unknown signing key"),
        (as_aigw, {}, "unknown signing key"),
        (gitlab_es256, gitlab.headers, "token signing algorithm is not allowed"),
    ]:
        status, body = await rest_outcome(stack, {"Authorization": f"Bearer {token}", **headers})
        assert (status, body) == (401, {"error": message})


async def test_a_gitlab_token_cannot_call_internal_services(stack: SecureStack) -> None:
    # Even with the service scope, only aigw's own keys vouch for internal callers.
    gitlab = _issuers(stack)["gitlab"]
    token = gitlab.sign(gitlab.claims(scopes=["aigw_service", "aigw_admin"]))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.proxy_port}") as channel:
        proxy = model_proxy_service_pb2_grpc.ModelProxyServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await proxy.Generate(
                model_proxy_service_pb2.GenerateRequest(),
                metadata=[("authorization", f"Bearer {token}")],
                timeout=5,
            )
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # Its kid is none of aigw's keys (the only issuer internal services trust).
    assert raised.value.details() == "unknown signing key"


def _lower(headers: dict[str, str]) -> list[tuple[str, str]]:
    return [(name.lower(), value) for name, value in headers.items()]
