"""GitLab issuers' keys by OIDC discovery, against a real local HTTP(S) issuer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from aigw_common.errors import FailedPrecondition, Unauthenticated
from aigw_common.oidc import MAX_DOCUMENT_BYTES, GitLabIssuers
from aigw_common.settings import AuthSettings, Settings, TlsSettings
from aigw_common.tls import outbound_verify
from aigw_common.token_verifier import TokenVerifier
from auth_svc.keys import KeyStore
from tests.oidc_issuer import GitLabLikeIssuer, running_issuer
from tests.tls_certs import make_pki


@pytest.fixture
async def issuer() -> AsyncIterator[GitLabLikeIssuer]:
    async with running_issuer() as running:
        yield running


def _settings(tmp_path: Path, url: str, **changes: object) -> Settings:
    return Settings(
        environment="development",
        data_dir=tmp_path,
        gitlab_url=url,
        auth=AuthSettings(oidc_timeout_s=0.5),
        **changes,  # type: ignore[arg-type]
    )


async def _verifier(
    tmp_path: Path, settings: Settings, clock: list[float] | None = None
) -> tuple[TokenVerifier, GitLabIssuers]:
    now = clock or [1000.0]
    gitlab = GitLabIssuers(settings, clock=lambda: now[0])
    await gitlab.start()
    keys = KeyStore.load_or_create(tmp_path / "aigw", "RS256")
    return TokenVerifier(keys, settings.auth, trusted=gitlab.trusted), gitlab


async def test_keys_come_from_discovery_and_verify_the_instances_tokens(
    tmp_path: Path, issuer: GitLabLikeIssuer
) -> None:
    verifier, gitlab = await _verifier(tmp_path, _settings(tmp_path, issuer.url + "/"))
    try:
        principal = await verifier.verify(issuer.token(["complete_code"]))
    finally:
        await gitlab.close()

    assert gitlab.ready
    assert principal.issuer_kind == "gitlab"
    assert principal.issuer == issuer.url
    assert principal.claim("gitlab_realm") == "self-managed"
    assert issuer.behaviour.requests == [
        "/.well-known/openid-configuration",
        "/oauth/discovery/keys",
    ]


async def test_the_audience_is_the_cloud_connector_service_name(
    tmp_path: Path, issuer: GitLabLikeIssuer
) -> None:
    settings = _settings(tmp_path, issuer.url, cloud_connector_service_name="my-gateway")
    verifier, gitlab = await _verifier(tmp_path, settings)
    try:
        assert (await verifier.verify(issuer.token(aud="my-gateway"))).subject
        with pytest.raises(Unauthenticated, match="audience does not match"):
            await verifier.verify(issuer.token())
    finally:
        await gitlab.close()


async def test_a_new_instance_key_is_fetched_on_its_first_token_and_only_once(
    tmp_path: Path, issuer: GitLabLikeIssuer
) -> None:
    now = [1000.0]
    verifier, gitlab = await _verifier(tmp_path, _settings(tmp_path, issuer.url), now)
    try:
        # Within 5 s of the last fetch, an unknown kid does not cause another one.
        issuer.rotate()
        fetches = len(issuer.behaviour.requests)
        with pytest.raises(Unauthenticated, match="unknown signing key"):
            await verifier.verify(issuer.token())
        assert len(issuer.behaviour.requests) == fetches
        # Later, the first token with the new kid fetches the keys, and is accepted.
        now[0] += 5
        tokens = [issuer.token() for _ in range(20)]
        results = await asyncio.gather(*(verifier.verify(token) for token in tokens))
    finally:
        await gitlab.close()

    assert all(result.subject for result in results)
    assert len(issuer.behaviour.requests) == fetches + 2


@pytest.mark.parametrize(
    "breakage",
    [
        {"discovery_issuer": "https://gitlab.elsewhere.example"},
        {"discovery_status": 503},
        {"jwks_body": b"not json"},
        {"jwks_body": json.dumps({"keys": []}).encode()},
        {"jwks_body": b" " * (MAX_DOCUMENT_BYTES + 1)},
        {"delay_s": 1.2},
    ],
)
async def test_an_unusable_issuer_gives_no_keys_and_no_error(
    tmp_path: Path, issuer: GitLabLikeIssuer, breakage: dict[str, object]
) -> None:
    for name, value in breakage.items():
        setattr(issuer.behaviour, name, value)
    verifier, gitlab = await _verifier(tmp_path, _settings(tmp_path, issuer.url))
    try:
        assert not gitlab.ready
        with pytest.raises(Unauthenticated, match="unknown signing key"):
            await verifier.verify(issuer.token())
    finally:
        await gitlab.close()


async def test_a_jwks_uri_on_another_host_is_never_called(
    tmp_path: Path, issuer: GitLabLikeIssuer
) -> None:
    async with running_issuer() as elsewhere:
        issuer.behaviour.jwks_uri = f"{elsewhere.url}/oauth/discovery/keys"
        _, gitlab = await _verifier(tmp_path, _settings(tmp_path, issuer.url))
        await gitlab.close()

    assert not gitlab.ready
    assert elsewhere.behaviour.requests == []
    assert issuer.behaviour.requests == ["/.well-known/openid-configuration"]


async def test_an_https_issuer_is_trusted_through_the_configured_ca_bundle(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    async with running_issuer(tls=(pki.cert_file, pki.key_file)) as issuer:
        trusted = TlsSettings(outbound_ca_bundle=pki.ca_file)
        verifier, gitlab = await _verifier(tmp_path, _settings(tmp_path, issuer.url, tls=trusted))
        principal = await verifier.verify(issuer.token())
        await gitlab.close()
        # Without the bundle the instance's certificate is not trusted: no keys.
        _, untrusted = await _verifier(tmp_path, _settings(tmp_path, issuer.url))
        await untrusted.close()

    assert principal.issuer == issuer.url
    assert not untrusted.ready


def test_an_unreadable_ca_bundle_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bundle.pem").write_text("not a certificate")
    with pytest.raises(FailedPrecondition, match="AIGW_TLS__OUTBOUND_CA_BUNDLE"):
        outbound_verify(TlsSettings(outbound_ca_bundle=tmp_path / "bundle.pem"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://gitlab.example.com/", "https://gitlab.example.com"),
        ("http://10.0.0.5:8080", "http://10.0.0.5:8080"),
        ("", None),
        ("  ", None),
    ],
)
def test_issuer_urls_are_normalised(value: str, expected: str | None) -> None:
    settings = Settings(gitlab_url=value, customer_portal_url=value)
    assert settings.gitlab_url == expected
    assert settings.customer_portal_url == expected


@pytest.mark.parametrize(
    "value", ["gitlab.example.com", "ftp://gitlab.example.com", "https://u:p@gitlab.example.com"]
)
def test_an_issuer_url_that_is_not_an_http_base_url_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="not an http"):
        Settings(gitlab_url=value)


async def test_the_portal_set_to_the_gitlab_url_is_one_issuer(
    tmp_path: Path, issuer: GitLabLikeIssuer
) -> None:
    settings = _settings(tmp_path, issuer.url, customer_portal_url=issuer.url)
    gitlab = GitLabIssuers(settings)
    await gitlab.close()
    assert [trusted.issuer for trusted in gitlab.trusted] == [issuer.url]
