"""AuthService: issue tokens to the admin, verify them for anyone, publish the public keys."""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from aigw.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from aigw_common.errors import InvalidArgument, Unauthenticated
from aigw_common.settings import AuthSettings
from aigw_common.token_verifier import TokenVerifier, authorization_from_metadata, bearer_token
from auth_svc.keys import KeyStore
from auth_svc.tokens import TokenIssuer

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context

MAX_SUBJECT_CHARS = 255
MAX_SCOPES = 64
_SCOPE = re.compile(r"[a-z0-9_:.-]{1,64}")


class AuthServiceServicer(auth_service_pb2_grpc.AuthServiceServicer):
    """Implements aigw.auth.v1.AuthService over one key store."""

    def __init__(self, keys: KeyStore, auth: AuthSettings, admin_credential: str) -> None:
        self._keys = keys
        self._auth = auth
        self._issuer = TokenIssuer(keys, auth)
        self._verifier = TokenVerifier(keys, auth)
        self._admin_credential = admin_credential.encode()

    async def IssueToken(
        self, request: auth_service_pb2.IssueTokenRequest, context: Context
    ) -> auth_service_pb2.IssueTokenResponse:
        # Who is asking is checked before what they ask for.
        self._require_admin(context)
        subject = _subject(request.subject)
        scopes = _scopes(request.scopes)
        ttl = _ttl(request)
        issued = self._issuer.issue(subject, scopes, ttl)
        if len(issued.token) > self._auth.max_token_bytes:
            raise InvalidArgument(
                f"the token would be {len(issued.token)} bytes, over the "
                f"{self._auth.max_token_bytes}-byte limit; ask for fewer scopes",
                field="scopes",
            )
        response = auth_service_pb2.IssueTokenResponse(token=issued.token)
        response.expires_at.FromDatetime(issued.expires_at)
        return response

    async def VerifyToken(
        self, request: auth_service_pb2.VerifyTokenRequest, context: Context
    ) -> auth_service_pb2.VerifyTokenResponse:
        principal = await self._verifier.verify(request.token)
        response = auth_service_pb2.VerifyTokenResponse(
            subject=principal.subject, scopes=sorted(principal.scopes), issuer=principal.issuer
        )
        response.expires_at.FromDatetime(principal.expires_at)
        return response

    async def GetJwks(
        self, request: auth_service_pb2.GetJwksRequest, context: Context
    ) -> auth_service_pb2.GetJwksResponse:
        return auth_service_pb2.GetJwksResponse(
            jwks_json=self._keys.jwks_json(),
            issuer=self._auth.issuer,
            audience=self._auth.audience,
        )

    def _require_admin(self, context: Context) -> None:
        presented = bearer_token(authorization_from_metadata(context.invocation_metadata()))
        if not hmac.compare_digest(presented.encode(), self._admin_credential):
            raise Unauthenticated(
                "IssueToken needs the admin credential", reason="ADMIN_CREDENTIAL_INVALID"
            )


def _subject(subject: str) -> str:
    if not 1 <= len(subject) <= MAX_SUBJECT_CHARS:
        raise InvalidArgument(
            f"subject must be 1 to {MAX_SUBJECT_CHARS} characters", field="subject"
        )
    if not subject.isprintable() or not subject.strip():
        raise InvalidArgument(
            "subject must be printable characters and not only spaces", field="subject"
        )
    return subject


def _scopes(scopes: Sequence[str]) -> list[str]:
    if not scopes:
        raise InvalidArgument("scopes must name at least one scope", field="scopes")
    for index, scope in enumerate(scopes):
        if not _SCOPE.fullmatch(scope):
            raise InvalidArgument(
                f"scopes[{index}] must be 1 to 64 characters of a-z, 0-9, '_', ':', '.', '-'",
                field="scopes",
            )
    unique = list(dict.fromkeys(scopes))
    if len(unique) > MAX_SCOPES:
        raise InvalidArgument(f"scopes may name at most {MAX_SCOPES} scopes", field="scopes")
    return unique


def _ttl(request: auth_service_pb2.IssueTokenRequest) -> timedelta | None:
    if not request.HasField("ttl"):
        return None
    seconds, nanos = request.ttl.seconds, request.ttl.nanos
    if seconds < 0 or nanos < 0:
        raise InvalidArgument("ttl must not be negative", field="ttl")
    if nanos >= 1_000_000_000:
        raise InvalidArgument("ttl is not a valid duration", field="ttl")
    try:
        return timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        raise InvalidArgument("ttl is out of range", field="ttl") from None
