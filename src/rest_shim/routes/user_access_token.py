"""POST /v1/code/user_access_token: a one-hour user token derived from a GitLab instance token.

GitLab's gateway answers this itself; here auth_svc does (it holds the signing key), after the
same checks: 401 {"error"} when the instance token or its headers fail, 403 {"detail":
"Unauthorized to create user access token"} for a token that may not ask, 400 {"detail":
"Missing X-Gitlab-Global-User-Id header"}, 500 {"detail": "Failed to generate JWT"}. The answer
is `{"token", "expires_at"}` with `expires_at` in Unix seconds, as GitLab's.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from aigw_common.errors import AigwError
from rest_shim.dependencies import Auth
from rest_shim.router_client import forwarded_metadata

GLOBAL_USER_ID_HEADER = "x-gitlab-global-user-id"
# auth_svc's ErrorInfo reason for a signing failure, and GitLab's answer to it.
GENERATION_FAILED_REASON = "TOKEN_GENERATION_FAILED"
GENERATION_FAILED = "Failed to generate JWT"

router = APIRouter(tags=["code suggestions"])


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
