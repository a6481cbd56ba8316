"""A local OIDC issuer that behaves like a GitLab instance, for tests.

A real HTTP server (uvicorn, optionally with TLS) serving `/.well-known/openid-configuration`
and the JWKS it points to, and an RS256 key (with an RFC 7638 thumbprint kid, as GitLab uses)
that signs instance tokens with GitLab's claims. Tests can rotate its key, break its answers,
slow it down, and see every request it received.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from auth_svc.signing_key import SigningKey

AUDIENCE = "gitlab-ai-gateway"
INSTANCE_ID = "4c6b1d3e-6f3a-4a57-9b8e-3a1f0c2d9e77"
JWKS_PATH = "/oauth/discovery/keys"


@dataclass
class IssuerBehaviour:
    """What the issuer answers; tests change it while it runs."""

    discovery_issuer: str | None = None  # None: its own URL
    jwks_uri: str | None = None  # None: its own JWKS path
    discovery_status: int = 200
    jwks_body: bytes | None = None  # None: the real key set
    delay_s: float = 0.0
    requests: list[str] = field(default_factory=list)


class GitLabLikeIssuer:
    """Signs instance tokens and publishes its keys as a GitLab instance does."""

    def __init__(self) -> None:
        self.url = ""
        self.behaviour = IssuerBehaviour()
        self._keys: list[SigningKey] = [_new_key()]

    @property
    def key(self) -> SigningKey:
        """The key that signs now."""
        return self._keys[-1]

    def rotate(self, *, keep_old: bool = True) -> SigningKey:
        """Sign with a new key from now on (the old one stays published unless told not to)."""
        self._keys = [*(self._keys if keep_old else []), _new_key()]
        return self.key

    def token(self, scopes: list[str] | None = None, **overrides: Any) -> str:
        """An instance token like GitLab's; `overrides` replace claims (None removes one)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": INSTANCE_ID,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "jti": str(uuid.uuid4()),
            "gitlab_realm": "self-managed",
            "gitlab_instance_id": INSTANCE_ID,
            "scopes": scopes if scopes is not None else ["complete_code", "generate_code"],
        }
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        key = self.key
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})

    def headers(self, token: str, **extra: str) -> dict[str, str]:
        """The headers GitLab Rails sends with an instance token."""
        return {
            "Authorization": f"Bearer {token}",
            "X-Gitlab-Authentication-Type": "oidc",
            "X-Gitlab-Instance-Id": INSTANCE_ID,
            "X-Gitlab-Realm": "self-managed",
            **extra,
        }

    def app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            await self._record(request)
            if self.behaviour.discovery_status != 200:
                return Response("unavailable", status_code=self.behaviour.discovery_status)
            return JSONResponse(
                {
                    "issuer": self.behaviour.discovery_issuer or self.url,
                    "jwks_uri": self.behaviour.jwks_uri or f"{self.url}{JWKS_PATH}",
                    "id_token_signing_alg_values_supported": ["RS256"],
                }
            )

        async def jwks(request: Request) -> Response:
            await self._record(request)
            if self.behaviour.jwks_body is not None:
                return Response(self.behaviour.jwks_body, media_type="application/json")
            return JSONResponse({"keys": [dict(key.public_jwk) for key in self._keys]})

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route(JWKS_PATH, jwks),
            ]
        )

    async def _record(self, request: Request) -> None:
        self.behaviour.requests.append(request.url.path)
        if self.behaviour.delay_s:
            await asyncio.sleep(self.behaviour.delay_s)


def _new_key() -> SigningKey:
    return SigningKey.from_private_key(
        rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"
    )


@asynccontextmanager
async def running_issuer(
    *, tls: tuple[Path, Path] | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[GitLabLikeIssuer]:
    """A GitLabLikeIssuer served on a free port (HTTPS with `tls` = (cert, key) files)."""
    issuer = GitLabLikeIssuer()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    scheme = "https" if tls else "http"
    issuer.url = f"{scheme}://{host}:{port}"
    config = uvicorn.Config(
        issuer.app(),
        log_config=None,
        access_log=False,
        lifespan="off",
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
        ssl_cert_reqs=ssl.CERT_NONE,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the test issuer stopped before it started")
            await asyncio.sleep(0.01)
        yield issuer
    finally:
        server.should_exit = True
        await task
        sock.close()
