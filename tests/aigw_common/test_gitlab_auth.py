"""GitLab's header rules around verification, for each kind of token."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from aigw_common.errors import Unauthenticated
from aigw_common.gitlab_auth import authenticate
from aigw_common.settings import AuthSettings
from aigw_common.token_verifier import TokenVerifier
from auth_svc.keys import KeyStore
from auth_svc.tokens import TokenIssuer

AUTH = AuthSettings()
GITLAB_CLAIMS = {"gitlab_realm": "self-managed", "gitlab_instance_id": "inst-1"}
USER_HEADERS = {
    "x-gitlab-global-user-id": "user-1",
    "x-gitlab-instance-id": "inst-1",
    "x-gitlab-realm": "self-managed",
}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    return KeyStore.load_or_create(tmp_path_factory.mktemp("keys"), "ES256")


def _token(keys: KeyStore, subject: str, **claims: str) -> str:
    issued = TokenIssuer(keys, AUTH).issue(
        subject, ["complete_code"], timedelta(minutes=5), extra_claims=claims
    )
    return issued.token


async def _authenticate(keys: KeyStore, headers: dict[str, str]) -> str:
    principal = await authenticate(TokenVerifier(keys, AUTH), headers)
    return principal.subject


async def test_aigws_own_tokens_need_no_gitlab_headers(keys: KeyStore) -> None:
    token = _token(keys, "ide-user")
    assert await _authenticate(keys, {"authorization": f"Bearer {token}"}) == "ide-user"
    headers = {"authorization": f"Bearer {token}", "x-gitlab-authentication-type": "oidc"}
    assert await _authenticate(keys, headers) == "ide-user"


async def test_any_authentication_type_but_oidc_is_refused(keys: KeyStore) -> None:
    headers = {
        "authorization": f"Bearer {_token(keys, 'ide-user')}",
        "x-gitlab-authentication-type": "OIDC",
    }
    with pytest.raises(Unauthenticated) as raised:
        await _authenticate(keys, headers)
    assert raised.value.message == "Invalid authentication token type - only OIDC is supported"


async def test_a_user_token_must_match_the_users_headers(keys: KeyStore) -> None:
    token = _token(keys, "user-1", **GITLAB_CLAIMS)
    headers = {"authorization": f"Bearer {token}", **USER_HEADERS}
    assert await _authenticate(keys, headers) == "user-1"

    # Checked in GitLab's order: realm, instance, then the subject.
    for missing, header in [
        ("x-gitlab-realm", "X-Gitlab-Realm"),
        ("x-gitlab-instance-id", "X-Gitlab-Instance-Id"),
        ("x-gitlab-global-user-id", "X-Gitlab-Global-User-Id"),
    ]:
        partial = {name: value for name, value in headers.items() if name != missing}
        with pytest.raises(Unauthenticated) as raised:
            await _authenticate(keys, partial)
        assert raised.value.message == f"Header mismatch '{header}'"
        assert raised.value.reason == "HEADER_MISMATCH"


async def test_verification_comes_before_the_header_checks(keys: KeyStore, tmp_path: Path) -> None:
    stranger = KeyStore.load_or_create(tmp_path, "ES256")
    token = _token(stranger, "user-1", **GITLAB_CLAIMS)
    with pytest.raises(Unauthenticated, match="unknown signing key"):
        await _authenticate(keys, {"authorization": f"Bearer {token}"})
