"""User access tokens: a one-hour token for one user, derived from a GitLab instance token.

GitLab's `/v1/code/user_access_token` semantics (its current behaviour): the caller is a GitLab
instance (a token from a trusted GitLab issuer, never one aigw issued, so user tokens cannot
renew themselves); the user token grants whichever of `complete_code` and
`ai_gateway_model_provider_proxy` the instance token grants; realm and instance id come from
the instance token's claims, the subject is the user's global id. Clients then call aigw
directly with it and the `X-Gitlab-Global-User-Id` header it must match.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aigw_common.errors import AigwError, InvalidArgument, PermissionDenied
from aigw_common.gitlab_auth import INSTANCE_ID_CLAIM, REALM_CLAIM
from aigw_common.token_verifier import Principal
from auth_svc.tokens import IssuedToken, TokenIssuer

USER_TOKEN_TTL = timedelta(hours=1)
# What a user token may grant, in GitLab's order.
USER_TOKEN_SCOPES = ("complete_code", "ai_gateway_model_provider_proxy")
# Claims carried over from the instance token when present.
_CARRIED_CLAIMS = ("gitlab_instance_uid", "duo_seat_count")

UNAUTHORIZED = "Unauthorized to create user access token"
MISSING_USER_ID = "Missing X-Gitlab-Global-User-Id header"
GENERATION_FAILED = "Failed to generate JWT"
GENERATION_FAILED_REASON = "TOKEN_GENERATION_FAILED"
MAX_USER_ID_CHARS = 255


class TokenGenerationFailed(AigwError):
    """Signing failed (GitLab answers 500 "Failed to generate JWT")."""

    reason = GENERATION_FAILED_REASON


def issue_user_access_token(
    issuer: TokenIssuer, caller: Principal, global_user_id: str, *, max_ttl_s: int
) -> tuple[IssuedToken, list[str]]:
    """The user token for `global_user_id` and the scopes it grants, in GitLab's check order:
    the caller's right to ask first (PermissionDenied), then the request (InvalidArgument)."""
    scopes = [scope for scope in USER_TOKEN_SCOPES if caller.can(scope)]
    if caller.issuer_kind != "gitlab" or not scopes:
        raise PermissionDenied(UNAUTHORIZED, reason="USER_TOKEN_NOT_ALLOWED")
    if not global_user_id:
        raise InvalidArgument(MISSING_USER_ID, field="global_user_id")
    if len(global_user_id) > MAX_USER_ID_CHARS or not global_user_id.isprintable():
        raise InvalidArgument(
            f"global_user_id must be 1 to {MAX_USER_ID_CHARS} printable characters",
            field="global_user_id",
        )
    claims: dict[str, Any] = {
        REALM_CLAIM: caller.claim(REALM_CLAIM),
        INSTANCE_ID_CLAIM: caller.claim(INSTANCE_ID_CLAIM),
    }
    for name in _CARRIED_CLAIMS:
        if caller.claims.get(name) not in (None, ""):
            claims[name] = caller.claims[name]
    ttl = min(USER_TOKEN_TTL, timedelta(seconds=max_ttl_s))
    try:
        issued = issuer.issue(
            global_user_id,
            scopes,
            ttl,
            extra_claims={name: value for name, value in claims.items() if value is not None},
        )
    except Exception as error:
        raise TokenGenerationFailed(GENERATION_FAILED) from error
    return issued, scopes
