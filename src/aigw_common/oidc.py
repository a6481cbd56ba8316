"""Keys of trusted GitLab issuers, found by OpenID Connect discovery.

For each configured base URL (AIGW_GITLAB_URL, AIGW_CUSTOMER_PORTAL_URL) the keys come from
`<url>/.well-known/openid-configuration` → `jwks_uri`. Both requests have timeouts, follow no
redirects, ignore proxy variables and trust only the configured CA bundle; a `jwks_uri` on any
other origin than the configured URL is refused, so aigw never calls a host the operator did
not name (air-gapped installs). Keys are cached by a JwksCache: refreshed every
AIGW_AUTH__OIDC_REFRESH_S and on an unknown `kid` (rate-limited), kept when a refresh fails.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from aigw_common.settings import Settings
from aigw_common.tls import outbound_verify
from aigw_common.token_verifier import GITLAB_ALGORITHMS, JwksCache, TrustedIssuer

_log = structlog.get_logger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
# A discovery document or key set is a few kilobytes; anything huge is not one.
MAX_DOCUMENT_BYTES = 1024 * 1024


class OidcError(Exception):
    """The issuer's discovery document or key set cannot be used; the message says why."""


@dataclass(frozen=True)
class FetchedJwks:
    """A key set as fetched (JwksCache's JwksResponse shape)."""

    jwks_json: str


class OidcKeyFetch:
    """Fetches one issuer's key set: the discovery document, then its `jwks_uri`."""

    def __init__(self, issuer_url: str, client: httpx.AsyncClient) -> None:
        self.issuer = issuer_url.rstrip("/")
        self._client = client
        self._origin = _origin(httpx.URL(self.issuer))

    async def __call__(self) -> FetchedJwks:
        discovery = await self._get_json(f"{self.issuer}{DISCOVERY_PATH}")
        if not isinstance(discovery, dict):
            raise OidcError("the discovery document is not a JSON object")
        # OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for;
        # it is also the `iss` every token from this instance carries.
        if discovery.get("issuer") != self.issuer:
            raise OidcError(
                f"the discovery document names issuer {discovery.get('issuer')!r}, not "
                f"{self.issuer!r}; set the URL to the instance's external URL"
            )
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise OidcError("the discovery document has no jwks_uri")
        try:
            url = httpx.URL(jwks_uri)
        except httpx.InvalidURL:
            raise OidcError("the discovery document's jwks_uri is not a URL") from None
        if _origin(url) != self._origin:
            raise OidcError(
                f"jwks_uri {jwks_uri!r} is not on {self._origin}; aigw calls no host the "
                "operator did not configure"
            )
        jwks = await self._get_json(str(url))
        return FetchedJwks(json.dumps(jwks))

    async def _get_json(self, url: str) -> Any:
        async with self._client.stream("GET", url, headers={"Accept": "application/json"}) as reply:
            if reply.status_code != 200:
                raise OidcError(f"GET {url} answered HTTP {reply.status_code}")
            body = bytearray()
            async for chunk in reply.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise OidcError(f"GET {url} answered more than {MAX_DOCUMENT_BYTES} bytes")
        try:
            return json.loads(body)
        except ValueError:
            raise OidcError(f"GET {url} did not answer JSON") from None


class GitLabIssuers:
    """The trusted GitLab issuers of `settings`, each with its own cached key set.

    `start()` fetches every issuer's keys once (failures are logged, not raised: the instance
    may come up later) and keeps them fresh; `close()` stops that and closes the HTTP client.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        auth = settings.auth
        urls = [url for url in (settings.gitlab_url, settings.customer_portal_url) if url]
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(auth.oidc_timeout_s),
            verify=outbound_verify(settings.tls),
            follow_redirects=False,
            # Proxies and certificates come from settings, never from the environment.
            trust_env=False,
            transport=transport,
            headers={"User-Agent": "aigw-oidc"},
        )
        self._caches: list[JwksCache] = []
        self.trusted: list[TrustedIssuer] = []
        for url in dict.fromkeys(urls):  # the portal is often set to the GitLab URL itself
            cache = JwksCache(
                OidcKeyFetch(url, self._client),
                refresh_interval_s=auth.oidc_refresh_s,
                # Discovery and the key set: two requests, each with its own timeout.
                fetch_timeout_s=2 * auth.oidc_timeout_s,
                clock=clock,
                source=url,
            )
            self._caches.append(cache)
            self.trusted.append(
                TrustedIssuer(
                    issuer=url,
                    keys=cache,
                    audience=settings.cloud_connector_service_name,
                    algorithms=GITLAB_ALGORITHMS,
                    kind="gitlab",
                )
            )

    @property
    def ready(self) -> bool:
        """Whether every issuer's keys are cached."""
        return all(cache.ready for cache in self._caches)

    async def start(self) -> None:
        for cache in self._caches:
            await cache.start()

    async def close(self) -> None:
        for cache in self._caches:
            await cache.close()
        await self._client.aclose()


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
