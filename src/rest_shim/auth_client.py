"""The shim's one client of auth_svc (user access tokens): every failure leaves it as the domain
error auth_svc reported, never as grpc.aio.AioRpcError."""

from __future__ import annotations

import grpc

from aigw.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from aigw_common.grpc_errors import from_rpc_error

ISSUE_TIMEOUT_S = 10.0


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
