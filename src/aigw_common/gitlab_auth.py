"""GitLab's authentication contract around token verification.

GitLab's AI gateway requires `X-Gitlab-Authentication-Type: oidc` and checks that the
`X-Gitlab-*` headers agree with the token's claims, answering with fixed messages its clients
show to administrators; these rules and messages are GitLab's, word for word. They apply to
tokens from a trusted GitLab issuer, and to aigw tokens that carry GitLab claims (user access
tokens derived from a GitLab instance token). aigw's other tokens (for IDEs and services
without a GitLab instance) need no GitLab headers, but an authentication type other than
`oidc` is refused for every token, as GitLab does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aigw_common.errors import Unauthenticated
from aigw_common.token_verifier import (
    AUTHORIZATION_KEY,
    Principal,
    TokenVerifier,
    bearer_token,
)

AUTH_TYPE_HEADER = "X-Gitlab-Authentication-Type"
REALM_HEADER = "X-Gitlab-Realm"
INSTANCE_ID_HEADER = "X-Gitlab-Instance-Id"
GLOBAL_USER_ID_HEADER = "X-Gitlab-Global-User-Id"
OIDC = "oidc"

INVALID_AUTH_TYPE = "Invalid authentication token type - only OIDC is supported"
REALM_CLAIM = "gitlab_realm"
INSTANCE_ID_CLAIM = "gitlab_instance_id"


def headers_from_metadata(metadata: Iterable[tuple[str, Any]] | None) -> dict[str, str]:
    """gRPC invocation metadata as headers (gRPC keys are lower case; binary values dropped)."""
    return {key: value for key, value in metadata or () if isinstance(value, str)}


async def authenticate(verifier: TokenVerifier, headers: Mapping[str, str]) -> Principal:
    """The caller named by `headers` (lower-case names), checked by GitLab's rules.

    Raises Unauthenticated with GitLab's message for a missing or malformed authorization
    header, a wrong authentication type or a header that contradicts the token.
    """
    token = bearer_token(headers.get(AUTHORIZATION_KEY))
    auth_type = headers.get(AUTH_TYPE_HEADER.lower())
    if auth_type is not None and auth_type != OIDC:
        raise Unauthenticated(INVALID_AUTH_TYPE, reason="AUTH_TYPE_INVALID")
    principal = await verifier.verify(token)
    if principal.issuer_kind == "gitlab" and auth_type != OIDC:
        raise Unauthenticated(INVALID_AUTH_TYPE, reason="AUTH_TYPE_INVALID")
    check_headers(principal, headers)
    return principal


def carries_gitlab_claims(principal: Principal) -> bool:
    return bool(principal.claim(REALM_CLAIM) or principal.claim(INSTANCE_ID_CLAIM))


def check_headers(principal: Principal, headers: Mapping[str, str]) -> None:
    """GitLab's header/claim consistency: each non-empty claim must equal its header."""
    if principal.issuer_kind == "aigw" and not carries_gitlab_claims(principal):
        return
    # A GitLab instance token names the instance; a user token aigw derived from one names
    # the user.
    user_token = principal.issuer_kind == "aigw"
    subject_header = GLOBAL_USER_ID_HEADER if user_token else INSTANCE_ID_HEADER
    expected = (
        (principal.claim(REALM_CLAIM), REALM_HEADER),
        (principal.claim(INSTANCE_ID_CLAIM), INSTANCE_ID_HEADER),
        (principal.subject, subject_header),
    )
    for claim, header in expected:
        if claim and claim != headers.get(header.lower()):
            raise Unauthenticated(
                f"Header mismatch '{header}'", reason="HEADER_MISMATCH", metadata={"header": header}
            )
