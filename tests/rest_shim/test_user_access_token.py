"""POST /v1/code/user_access_token through the shim and a real auth_svc, and the user token's use
on /v2/code/completions, with GitLab's statuses and bodies."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
import pytest_asyncio

from tests.oidc_issuer import INSTANCE_ID
from tests.security.conftest import SecureStack, rest_outcome, secure_stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

PATH = "/v1/code/user_access_token"
USER = "c3b3f1e0a4d2"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecureStack]:
    async with secure_stack(tmp_path_factory.mktemp("uat")) as running:
        yield running


async def _ask(stack: SecureStack, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    response = await stack.shim.post(PATH, headers=headers, timeout=10)
    return response.status_code, response.json()


def _instance_headers(stack: SecureStack, scopes: list[str], **claims: Any) -> dict[str, str]:
    token = stack.gitlab.token(scopes, **claims)
    return stack.gitlab.headers(token, **{"X-Gitlab-Global-User-Id": USER})


async def test_an_instance_token_gets_a_one_hour_user_token(stack: SecureStack) -> None:
    headers = _instance_headers(
        stack, ["complete_code", "duo_chat"], gitlab_instance_uid="uid-7", duo_seat_count="12"
    )

    status, body = await _ask(stack, headers)

    assert status == 200
    assert set(body) == {"token", "expires_at"}
    header = jwt.get_unverified_header(body["token"])
    assert header == {"alg": "RS256", "kid": stack.auth.keys.active.kid, "typ": "JWT"}
    claims = jwt.decode(
        body["token"],
        stack.auth.keys.active.verifier,
        algorithms=["RS256"],
        audience=stack.settings.auth.audience,
        issuer=stack.settings.auth.issuer,
    )
    assert claims["sub"] == USER
    assert claims["scopes"] == ["complete_code"]  # only what a user token may carry
    assert claims["gitlab_realm"] == "self-managed"
    assert claims["gitlab_instance_id"] == INSTANCE_ID
    assert claims["gitlab_instance_uid"] == "uid-7"
    assert claims["duo_seat_count"] == "12"
    assert claims["exp"] == body["expires_at"]
    assert abs(claims["exp"] - (time.time() + 3600)) < 60
    assert claims["nbf"] == claims["iat"]
    assert claims["jti"]


async def test_the_user_token_calls_aigw_directly_with_the_users_headers(
    stack: SecureStack,
) -> None:
    _, body = await _ask(stack, _instance_headers(stack, ["complete_code"]))
    user_headers = {
        "Authorization": f"Bearer {body['token']}",
        "X-Gitlab-Authentication-Type": "oidc",
        "X-Gitlab-Global-User-Id": USER,
        "X-Gitlab-Instance-Id": INSTANCE_ID,
        "X-Gitlab-Realm": "self-managed",
    }

    assert (await rest_outcome(stack, user_headers))[0] == 200
    for name, message in [
        ("X-Gitlab-Global-User-Id", "Header mismatch 'X-Gitlab-Global-User-Id'"),
        ("X-Gitlab-Instance-Id", "Header mismatch 'X-Gitlab-Instance-Id'"),
        ("X-Gitlab-Realm", "Header mismatch 'X-Gitlab-Realm'"),
    ]:
        assert await rest_outcome(stack, {**user_headers, name: "someone-else"}) == (
            401,
            {"error": message},
        )


async def test_only_the_model_provider_proxy_scope_is_carried_over_too(stack: SecureStack) -> None:
    status, body = await _ask(stack, _instance_headers(stack, ["ai_gateway_model_provider_proxy"]))

    assert status == 200
    assert jwt.decode(body["token"], options={"verify_signature": False})["scopes"] == [
        "ai_gateway_model_provider_proxy"
    ]


@pytest.mark.parametrize(
    ("scopes", "status", "body"),
    [
        (["duo_chat"], 403, {"detail": "Unauthorized to create user access token"}),
        ([], 403, {"detail": "Unauthorized to create user access token"}),
    ],
)
async def test_an_instance_token_without_the_scopes_is_refused(
    stack: SecureStack, scopes: list[str], status: int, body: dict[str, str]
) -> None:
    assert await _ask(stack, _instance_headers(stack, scopes)) == (status, body)


async def test_a_token_aigw_issued_cannot_ask_for_another(stack: SecureStack) -> None:
    _, body = await _ask(stack, _instance_headers(stack, ["complete_code"]))
    renew = {
        "Authorization": f"Bearer {body['token']}",
        "X-Gitlab-Authentication-Type": "oidc",
        "X-Gitlab-Global-User-Id": USER,
        "X-Gitlab-Instance-Id": INSTANCE_ID,
        "X-Gitlab-Realm": "self-managed",
    }
    plain = {"Authorization": f"Bearer {stack.aigw_token('complete_code')}"}

    for headers in (renew, plain):
        assert await _ask(stack, headers) == (
            403,
            {"detail": "Unauthorized to create user access token"},
        )


async def test_the_user_id_header_is_required_after_the_rights_are_checked(
    stack: SecureStack,
) -> None:
    headers = _instance_headers(stack, ["complete_code"])
    del headers["X-Gitlab-Global-User-Id"]

    assert await _ask(stack, headers) == (400, {"detail": "Missing X-Gitlab-Global-User-Id header"})
    refused = _instance_headers(stack, ["duo_chat"])
    del refused["X-Gitlab-Global-User-Id"]
    assert (await _ask(stack, refused))[0] == 403


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"Authorization": "Bearer not-a-jwt"}, "token is malformed"),
        ({"X-Gitlab-Instance-Id": "other"}, "Header mismatch 'X-Gitlab-Instance-Id'"),
        (
            {"X-Gitlab-Authentication-Type": "basic"},
            "Invalid authentication token type - only OIDC is supported",
        ),
    ],
)
async def test_a_bad_instance_token_or_header_is_401(
    stack: SecureStack, change: dict[str, str], error: str
) -> None:
    headers = {**_instance_headers(stack, ["complete_code"]), **change}
    assert await _ask(stack, headers) == (401, {"error": error})
    assert await _ask(stack, {}) == (401, {"error": "No authorization header presented"})
