"""POST /v1/code/user_access_token: a one-hour user token derived from a GitLab instance token.

GitLab's gateway answers this itself; here auth_svc does (it holds the signing key), after the
same checks: 401 {"error"} when the instance token or its headers fail, 403 {"detail":
"Unauthorized to create user access token"} for a token that may not ask, 400 {"detail":
"Missing X-Gitlab-Global-User-Id header"}, 500 {"detail": "Failed to generate JWT"}. The answer
is `{"token", "expires_at"}` with `expires_at` in Unix seconds, as GitLab's.
"""

from __future__ import annotations

from typing import Annotated

import grpc
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from aigw.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from aigw_common.errors import AigwError
from aigw_common.grpc_errors import from_rpc_error
from rest_shim.router_client import forwarded_metadata

ISSUE_TIMEOUT_S = 10.0
GLOBAL_USER_ID_HEADER = "x-gitlab-global-user-id"
# auth_svc's ErrorInfo reason for a signing failure, and GitLab's answer to it.
GENERATION_FAILED_REASON = "TOKEN_GENERATION_FAILED"
GENERATION_FAILED = "Failed to generate JWT"

router = APIRouter(tags=["code suggestions"])


class AuthClient:
    """The shim's client of auth_svc, over one long-lived channel."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = auth_service_pb2_grpc.AuthServiceStub(channel)

    async def issue_user_access_token(
        self, global_user_id: str, metadata: grpc.aio.Metadata
    ) -> auth_service_pb2.IssueUserAccessTokenResponse:
        """Raises the domain error when auth_svc refuses or cannot be reached."""
        try:
            return await self._stub.IssueUserAccessToken(
                auth_service_pb2.IssueUserAccessTokenRequest(global_user_id=global_user_id),
                metadata=metadata,
                timeout=ISSUE_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None


def _auth(request: Request) -> AuthClient:
    auth: AuthClient = request.app.state.auth
    return auth


Auth = Annotated[AuthClient, Depends(_auth)]


class UserAccessToken(BaseModel):
    """GitLab's answer: the token and when it expires (Unix seconds)."""

    token: str
    expires_at: int


@router.post("/v1/code/user_access_token", response_model=UserAccessToken)
async def user_access_token(request: Request, auth: Auth) -> UserAccessToken | JSONResponse:
    """Derive a user token from the calling GitLab instance's token."""
    global_user_id = request.headers.get(GLOBAL_USER_ID_HEADER, "")
    try:
        issued = await auth.issue_user_access_token(global_user_id, forwarded_metadata(request))
    except AigwError as error:
        if error.reason == GENERATION_FAILED_REASON:
            return JSONResponse({"detail": GENERATION_FAILED}, status_code=500)
        raise
    return UserAccessToken(token=issued.token, expires_at=issued.expires_at.seconds)
