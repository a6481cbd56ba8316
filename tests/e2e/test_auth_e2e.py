"""Authentication across the real processes: a GitLab instance's OIDC-signed token served over
REST, a user access token derived from it, and key rotation with `aigw keys`, while every
internal call carries a service token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest

from aigw_cli.local_suite import local_suite
from auth_svc.keys import KeyStore
from tests.oidc_issuer import INSTANCE_ID, running_issuer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

BODY = {
    "current_file": {
        "file_name": "fib.py",
        "content_above_cursor": "def fib(n):\n    ",
        "content_below_cursor": "",
    }
}


async def test_gitlab_tokens_user_tokens_and_rotation_across_the_suite(tmp_path: Path) -> None:
    data_dir = tmp_path / "aigw"
    # Keys made an hour ago, so `aigw keys rotate` may rotate at once.
    KeyStore.load_or_create(data_dir, "RS256", clock=lambda: datetime.now(UTC) - timedelta(hours=1))
    async with (
        running_issuer() as gitlab,
        local_suite(data_dir, env={"AIGW_GITLAB_URL": gitlab.url}) as suite,
        httpx.AsyncClient(base_url=suite.rest_url, timeout=10) as http,
    ):
        # A token signed by the GitLab instance's OIDC key, with GitLab's headers.
        instance_token = gitlab.token(["complete_code"])
        served = await http.post(
            "/v2/code/completions", json=BODY, headers=gitlab.headers(instance_token)
        )
        assert served.status_code == 200, served.text
        assert served.json()["choices"][0]["text"]
        mismatch = gitlab.headers(instance_token, **{"X-Gitlab-Instance-Id": "not-me"})
        refused = await http.post("/v2/code/completions", json=BODY, headers=mismatch)
        assert (refused.status_code, refused.json()) == (
            401,
            {"error": "Header mismatch 'X-Gitlab-Instance-Id'"},
        )

        # A one-hour user token derived from it, used directly.
        asked = await http.post(
            "/v1/code/user_access_token",
            headers=gitlab.headers(instance_token, **{"X-Gitlab-Global-User-Id": "user-7"}),
        )
        assert asked.status_code == 200, asked.text
        user_headers = {
            "Authorization": f"Bearer {asked.json()['token']}",
            "X-Gitlab-Global-User-Id": "user-7",
            "X-Gitlab-Instance-Id": INSTANCE_ID,
            "X-Gitlab-Realm": "self-managed",
        }
        assert (
            await http.post("/v2/code/completions", json=BODY, headers=user_headers)
        ).status_code == 200

        # Rotation: the next key signs at once, and tokens of the old one keep working.
        listed = await suite.aigw("keys", "list")
        assert [line.split()[2] for line in listed.splitlines()[1:]] == ["active", "next"]
        old_token = suite.demo_token()
        rotated = await suite.aigw("keys", "rotate")
        new_kid = rotated.split()[2]
        assert new_kid == listed.splitlines()[2].split()[0]  # the published next key
        new_token = (await suite.aigw("token", "issue", "--scopes", "complete_code")).strip()
        assert jwt.get_unverified_header(new_token)["kid"] == new_kid
        for token in (new_token, old_token):
            answer = await http.post(
                "/v2/code/completions", json=BODY, headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 200, answer.text
        with pytest.raises(RuntimeError, match="FAILED_PRECONDITION: the signing keys changed"):
            await suite.aigw("keys", "rotate")
        states = [line.split()[2] for line in (await suite.aigw("keys", "list")).splitlines()[1:]]
        assert states == ["active", "next", "retiring"]

    # Only the configured instance was called, and only for discovery and its keys.
    assert set(gitlab.behaviour.requests) == {
        "/.well-known/openid-configuration",
        "/oauth/discovery/keys",
    }
