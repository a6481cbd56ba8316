"""AuthService: issue tokens to the admin, verify them for anyone, publish the public keys,
rotate them, and derive user tokens from GitLab instance tokens."""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from aigw.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from aigw_common.errors import InvalidArgument, Unauthenticated
from aigw_common.gitlab_auth import authenticate, headers_from_metadata
from aigw_common.settings import AuthSettings
from aigw_common.token_verifier import (
    TokenVerifier,
    TrustedIssuer,
    authorization_from_metadata,
    bearer_token,
)
from auth_svc.keys import KeyRecord, KeyStore, SigningKey
from auth_svc.tokens import TokenIssuer
from auth_svc.user_access_token import TokenGenerationFailed, issue_user_access_token

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context

_log = structlog.get_logger(__name__)

MAX_SUBJECT_CHARS = 255
MAX_SCOPES = 64
_SCOPE = re.compile(r"[a-z0-9_:.-]{1,64}")
_KEY_STATES = {
    "active": auth_service_pb2.KEY_STATE_ACTIVE,
    "next": auth_service_pb2.KEY_STATE_NEXT,
    "retiring": auth_service_pb2.KEY_STATE_RETIRING,
}


class AuthServiceServicer(auth_service_pb2_grpc.AuthServiceServicer):
    """Implements aigw.auth.v1.AuthService over one key store.

    `trusted` are the external (GitLab) issuers whose instance tokens may ask for user tokens.
    """

    def __init__(
        self,
        keys: KeyStore,
        auth: AuthSettings,
        admin_credential: str,
        *,
        trusted: Sequence[TrustedIssuer] = (),
    ) -> None:
        self._keys = keys
        self._auth = auth
        self._issuer = TokenIssuer(keys, auth)
        self._verifier = TokenVerifier(keys, auth, trusted=trusted)
        self._admin_credential = admin_credential.encode()
        self._rotation = asyncio.Lock()

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

    async def RotateKeys(
        self, request: auth_service_pb2.RotateKeysRequest, context: Context
    ) -> auth_service_pb2.RotateKeysResponse:
        self._require_admin(context, "RotateKeys")
        async with self._rotation:
            # Generating an RSA key takes a moment: not on the event loop.
            upcoming = await asyncio.to_thread(SigningKey.generate, self._auth.algorithm)
            # Shared keys: a transaction holding a lock every replica takes.
            active = await asyncio.to_thread(
                self._keys.rotate, upcoming, retention_s=self._auth.key_retention_s
            )
        by_state = {record.state: record for record in self._keys.records()}
        retiring = max(
            (record for record in self._keys.records() if record.state == "retiring"),
            key=lambda record: record.deactivated_at or record.created_at,
        )
        response = auth_service_pb2.RotateKeysResponse(
            active_key=_key_info(active), retiring_key=_key_info(retiring)
        )
        if "next" in by_state:
            response.next_key.CopyFrom(_key_info(by_state["next"]))
        return response

    async def GetKeySet(
        self, request: auth_service_pb2.GetKeySetRequest, context: Context
    ) -> auth_service_pb2.GetKeySetResponse:
        self._require_admin(context, "GetKeySet")
        await asyncio.to_thread(self._keys.retire_expired)
        return auth_service_pb2.GetKeySetResponse(
            keys=[_key_info(record) for record in self._keys.records()]
        )

    async def IssueUserAccessToken(
        self, request: auth_service_pb2.IssueUserAccessTokenRequest, context: Context
    ) -> auth_service_pb2.IssueUserAccessTokenResponse:
        caller = await authenticate(
            self._verifier, headers_from_metadata(context.invocation_metadata())
        )
        try:
            issued, scopes = issue_user_access_token(
                self._issuer,
                caller,
                request.global_user_id,
                max_ttl_s=self._auth.max_token_ttl_s,
            )
        except TokenGenerationFailed as error:
            cause = error.__cause__
            _log.error("signing a user access token failed", error=type(cause).__name__)
            raise
        response = auth_service_pb2.IssueUserAccessTokenResponse(token=issued.token, scopes=scopes)
        response.expires_at.FromDatetime(issued.expires_at)
        _log.info(
            "user access token issued",
            instance=caller.subject,
            user=request.global_user_id,
            scopes=scopes,
            jti=issued.jti,
        )
        return response

    def _require_admin(self, context: Context, rpc: str = "IssueToken") -> None:
        presented = bearer_token(authorization_from_metadata(context.invocation_metadata()))
        if not hmac.compare_digest(presented.encode(), self._admin_credential):
            raise Unauthenticated(
                f"{rpc} needs the admin credential", reason="ADMIN_CREDENTIAL_INVALID"
            )


def _key_info(record: KeyRecord) -> auth_service_pb2.SigningKeyInfo:
    info = auth_service_pb2.SigningKeyInfo(
        kid=record.kid, algorithm=record.algorithm, state=_KEY_STATES[record.state]
    )
    times: list[tuple[str, datetime | None]] = [
        ("create_time", record.created_at),
        ("activate_time", record.activated_at),
        ("deactivate_time", record.deactivated_at),
        ("retire_time", record.retire_at),
    ]
    for name, moment in times:
        if moment is not None:
            getattr(info, name).FromDatetime(moment)
    return info


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
