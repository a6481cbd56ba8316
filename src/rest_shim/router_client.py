"""The shim's one client of the router: a long-lived channel, its stubs and the call timeouts.

Every failure leaves it as the domain error the router reported (aigw_common.errors), never as
grpc.aio.AioRpcError: routes and their error tables deal in domain errors only."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import grpc
from fastapi import Request
from grpc_health.v1 import health_pb2

from aigw.router.v1 import router_service_pb2, router_service_pb2_grpc
from aigw_common.errors import AigwError, PermissionDenied
from aigw_common.grpc_errors import from_rpc_error
from rest_shim.streaming import RouterStream, open_stream

READINESS_TIMEOUT_S = 1.0
LIST_TIMEOUT_S = 5.0

AgentCall = grpc.aio.UnaryStreamCall[
    router_service_pb2.StreamAgentRequest, router_service_pb2.StreamAgentResponse
]

# A route's own 403 message, or how to make it from the router's refusal.
Forbidden = str | Callable[[AigwError], str]

_HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check"
_AUTHORIZATION = "authorization"
_GITLAB_HEADER_PREFIX = "x-gitlab-"
# gRPC metadata keys allow only these characters; "-bin" keys would carry binary values.
_METADATA_KEY = re.compile(r"[0-9a-z_.-]+")


# Health checks one readiness probe may ask (each may reach another router replica).
_READINESS_ATTEMPTS = 3


class RouterClient:
    """Calls RouterService and the router's health service over one shared channel."""

    def __init__(self, channel: grpc.aio.Channel, request_timeout_s: float) -> None:
        self._router = router_service_pb2_grpc.RouterServiceStub(channel)
        # Where a completion's deadline is set (AIGW_FASTAPI__REQUEST_TIMEOUT_S); gRPC carries
        # it to the router, which narrows it to the model's own timeout.
        self._request_timeout_s = request_timeout_s
        # The health stubs' type hints lack the methods, so build the one call we need.
        self._health_check = channel.unary_unary(
            _HEALTH_CHECK_METHOD,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )

    async def complete(
        self,
        completion: router_service_pb2.Completion,
        metadata: grpc.aio.Metadata,
        *,
        forbidden: Forbidden,
    ) -> router_service_pb2.CompleteResponse:
        """The router's whole answer; raises the domain error it reported, a refusal worded
        by `forbidden`."""
        try:
            return await self._router.Complete(
                router_service_pb2.CompleteRequest(completion=completion),
                metadata=metadata,
                timeout=self._request_timeout_s,
            )
        except grpc.aio.AioRpcError as error:
            raise _worded(from_rpc_error(error), forbidden) from None

    async def open_stream(
        self,
        completion: router_service_pb2.Completion,
        metadata: grpc.aio.Metadata,
        *,
        forbidden: Forbidden,
    ) -> RouterStream:
        """A router stream read up to its first text; raises like `complete` when the router
        fails before that. The caller must cancel the stream when done."""
        try:
            return await open_stream(self._stream(completion, metadata))
        except AigwError as error:
            raise _worded(error, forbidden) from None

    async def list_models(
        self, metadata: grpc.aio.Metadata
    ) -> list[router_service_pb2.AddressableModel]:
        """Every model the caller may address, all pages; raises the domain error on failure."""
        models: list[router_service_pb2.AddressableModel] = []
        request = router_service_pb2.ListModelsRequest()
        try:
            while True:
                response = await self._router.ListModels(
                    request, metadata=metadata, timeout=LIST_TIMEOUT_S
                )
                models.extend(response.models)
                if not response.next_page_token:
                    return models
                request.page_token = response.next_page_token
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None

    def _stream(
        self, completion: router_service_pb2.Completion, metadata: grpc.aio.Metadata
    ) -> grpc.aio.UnaryStreamCall[
        router_service_pb2.StreamCompleteRequest, router_service_pb2.StreamCompleteResponse
    ]:
        """A started StreamComplete call; the caller reads it and must cancel it when done."""
        return self._router.StreamComplete(
            router_service_pb2.StreamCompleteRequest(completion=completion),
            metadata=metadata,
            timeout=self._request_timeout_s,
        )

    async def open_agent(
        self,
        request: router_service_pb2.StreamAgentRequest,
        metadata: grpc.aio.Metadata,
        *,
        forbidden: Forbidden,
    ) -> tuple[AgentStream, router_service_pb2.StreamAgentResponse | None]:
        """A started StreamAgent call and its first event (None: the router sent none); raises
        like `complete` when the router fails before that. The caller must cancel the stream
        when done."""
        call = self._router.StreamAgent(request, metadata=metadata, timeout=self._request_timeout_s)
        try:
            first = await call.read()
        except grpc.aio.AioRpcError as error:
            call.cancel()
            raise _worded(from_rpc_error(error), forbidden) from None
        event = first if isinstance(first, router_service_pb2.StreamAgentResponse) else None
        return AgentStream(call), event

    async def serving(self) -> bool:
        """Whether a router reports SERVING for its overall health; raises the domain error
        when none can be asked.

        Behind a balancer each check may reach another router: one that is draining (NOT_SERVING
        on its way out) must not make this shim, and every other shim, look unready too. A few
        checks are asked; any SERVING answer will do.
        """
        error: grpc.aio.AioRpcError | None = None
        for _ in range(_READINESS_ATTEMPTS):
            try:
                response = await self._health_check(
                    health_pb2.HealthCheckRequest(service=""), timeout=READINESS_TIMEOUT_S
                )
            except grpc.aio.AioRpcError as failed:
                error = failed
                continue
            if response.status == health_pb2.HealthCheckResponse.SERVING:
                return True
        if error is not None:
            raise from_rpc_error(error) from None
        return False


class AgentStream:
    """The events of a started StreamAgent call after its first."""

    def __init__(self, call: AgentCall) -> None:
        self._call = call

    async def events(self) -> AsyncIterator[router_service_pb2.StreamAgentResponse]:
        """The remaining events; raises the domain error the router reported when it fails."""
        try:
            # read() only: the first event was read so, and gRPC refuses to mix it with
            # iterating the call.
            while True:
                event = await self._call.read()
                if not isinstance(event, router_service_pb2.StreamAgentResponse):  # EOF
                    return
                yield event
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None

    def cancel(self) -> None:
        self._call.cancel()


def _worded(error: AigwError, forbidden: Forbidden) -> AigwError:
    """`error`, a refusal in the route's own words.

    GitLab's routes each answer a missing scope with their own 403 message (e.g. "Unauthorized
    to access code completions"); `forbidden` is that message, or makes it from the error (whose
    metadata names the missing scope).
    """
    if isinstance(error, PermissionDenied):
        message = forbidden if isinstance(forbidden, str) else forbidden(error)
        return PermissionDenied(message, metadata=error.metadata)
    return error


def forwarded_metadata(request: Request) -> grpc.aio.Metadata:
    """The correlation id, the caller's credential and its GitLab headers as gRPC metadata.

    The router verifies the token and checks the GitLab headers against its claims; headers
    gRPC cannot carry (non-ASCII values, odd names) are left out rather than failing the call.
    """
    metadata = grpc.aio.Metadata()
    for name, value in request.headers.items():
        if name != _AUTHORIZATION and not name.startswith(_GITLAB_HEADER_PREFIX):
            continue
        if _METADATA_KEY.fullmatch(name) and not name.endswith("-bin") and _is_ascii_text(value):
            metadata.add(name, value)
    return metadata


def _is_ascii_text(value: str) -> bool:
    return value.isascii() and value.isprintable()
