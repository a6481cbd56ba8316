"""Internal authentication: service tokens minted and renewed by auth_svc, and config_svc
admitting only aigw's own services (read) and administrators (change), verifying with the keys
it fetched from auth_svc."""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import jwt
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2, config_service_pb2_grpc
from aigw_common import scopes
from aigw_common.channels import open_channel
from aigw_common.interceptors.service_auth import ServiceAuth
from aigw_common.internal_auth import auth_svc_keys, service_token
from aigw_common.service_token import ServiceTokenSource, service_token_interceptors
from aigw_common.settings import Settings
from aigw_common.token_verifier import GITLAB_ALGORITHMS, TokenVerifier, TrustedIssuer
from config_svc import server as config_server
from model_proxy_svc import server as proxy_server
from tests.auth_support import ADMIN_CREDENTIAL, RunningAuthSvc, running_auth_svc
from tests.polling import eventually


@dataclass
class Config:
    auth: RunningAuthSvc
    address: str
    settings: Settings


@pytest.fixture
async def auth(settings: Settings) -> AsyncIterator[RunningAuthSvc]:
    async with running_auth_svc(settings) as running:
        yield running


@pytest.fixture
async def config(auth: RunningAuthSvc) -> AsyncIterator[Config]:
    settings = auth.settings
    store = await config_server.open_store(settings)
    box = await config_server.open_secrets_box(settings)
    async with auth_svc_keys(settings) as keys:
        server, port = await config_server.build_server(
            settings, store=store, box=box, auth=ServiceAuth(TokenVerifier(keys, settings.auth))
        )
        await server.start()
        yield Config(auth, f"127.0.0.1:{port}", settings)
        await server.stop(None)
    await store.close()


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


async def _code(call: Any) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def _create(name: str) -> config_service_pb2.CreateModelRequest:
    return config_service_pb2.CreateModelRequest(
        model=config_service_pb2.Model(
            name=name,
            family="codestral",
            target=common_pb2.ModelTarget(
                platform=common_pb2.PLATFORM_OPENAI_COMPATIBLE,
                endpoint="http://vllm:8000/v1",
                identifier="c",
            ),
        )
    )


async def test_config_svc_admits_services_to_read_and_administrators_to_change(
    config: Config,
) -> None:
    service = config.auth.token(scopes.SERVICE, subject="router_svc")
    admin = config.auth.token(scopes.ADMIN, subject="aigw-cli:tester")
    user = config.auth.token("complete_code")
    key = config.auth.keys.active
    now = int(time.time())
    expired_claims = {
        **jwt.decode(service, options={"verify_signature": False}),
        "iat": now - 7200,
        "nbf": now - 7200,
        "exp": now - 3600,
    }
    expired = jwt.encode(expired_claims, key.private_key, key.algorithm, {"kid": key.kid})
    async with grpc.aio.insecure_channel(config.address) as channel:
        stub = config_service_pb2_grpc.ConfigServiceStub(channel)
        health: Any = health_pb2_grpc.HealthStub(channel)
        listing = config_service_pb2.ListModelsRequest()

        # Load balancers need no token (the server was never marked ready: NOT_SERVING).
        reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert await _code(stub.ListModels(listing)) == grpc.StatusCode.UNAUTHENTICATED
        assert await _code(stub.ListModels(listing, metadata=_bearer(user))) == (
            grpc.StatusCode.PERMISSION_DENIED
        )
        assert await _code(stub.ListModels(listing, metadata=_bearer(service))) == (
            grpc.StatusCode.OK
        )
        assert await _code(stub.CreateModel(_create("a"), metadata=_bearer(service))) == (
            grpc.StatusCode.PERMISSION_DENIED
        )
        assert await _code(stub.CreateModel(_create("a"), metadata=_bearer(admin))) == (
            grpc.StatusCode.OK
        )
        # The audit trail is the administrators' too, and names the verified subject.
        audit = config_service_pb2.ListAuditEventsRequest()
        assert await _code(stub.ListAuditEvents(audit, metadata=_bearer(service))) == (
            grpc.StatusCode.PERMISSION_DENIED
        )
        events = (await stub.ListAuditEvents(audit, metadata=_bearer(admin))).events
        assert [(e.subject, e.method) for e in events] == [("aigw-cli:tester", "CreateModel")]
        for refused in (expired, service[:-10]):
            assert await _code(stub.ListModels(listing, metadata=_bearer(refused))) == (
                grpc.StatusCode.UNAUTHENTICATED
            )


async def test_a_service_sends_its_token_on_every_call_through_its_channel(
    config: Config,
) -> None:
    async with service_token(config.settings, "router_svc") as source:
        channel = open_channel(config.address, interceptors=service_token_interceptors(source))
        try:
            stub = config_service_pb2_grpc.ConfigServiceStub(channel)
            await stub.ListModels(config_service_pb2.ListModelsRequest(), timeout=5)
            # Streams carry it too.
            watch = stub.WatchConfig(config_service_pb2.WatchConfigRequest(), timeout=5)
            first = await watch.read()
            watch.cancel()
        finally:
            await channel.close()
    assert isinstance(first, config_service_pb2.WatchConfigResponse)


async def test_service_tokens_are_renewed_at_half_life_and_kept_while_auth_svc_is_down(
    auth: RunningAuthSvc,
) -> None:
    async with grpc.aio.insecure_channel(auth.settings.auth_svc.address) as channel:
        source = ServiceTokenSource.from_auth_channel(
            channel, ADMIN_CREDENTIAL, "router_svc", ttl_s=2
        )
        await source.start()
        first = source.current()
        assert first is not None
        claims = jwt.decode(first, options={"verify_signature": False})
        assert (claims["sub"], claims["scopes"]) == ("router_svc", [scopes.SERVICE])

        renewed = await eventually(
            lambda: source.current() not in (first, None) and source.current(), timeout_s=4
        )
        assert isinstance(renewed, str)
        await auth.server.stop(None)
        # The current token stays in use until it expires, then there is none.
        assert source.current() == renewed
        expires = jwt.decode(renewed, options={"verify_signature": False})["exp"]
        await eventually(
            lambda: source.current() is None, timeout_s=max(expires - time.time(), 0) + 2
        )
        await source.close()


async def test_a_wrong_admin_credential_gives_no_token_and_no_crash(
    auth: RunningAuthSvc,
) -> None:
    async with grpc.aio.insecure_channel(auth.settings.auth_svc.address) as channel:
        source = ServiceTokenSource.from_auth_channel(channel, "wrong-credential", "router_svc")
        await source.start()
        assert source.current() is None
        await source.close()


def test_internal_callers_are_only_vouched_for_by_aigws_own_keys(auth: RunningAuthSvc) -> None:
    gitlab = TrustedIssuer("https://gitlab.example.com", auth.keys, "aud", GITLAB_ALGORITHMS)
    verifier = TokenVerifier(auth.keys, auth.settings.auth, trusted=[gitlab])
    with pytest.raises(ValueError, match="only be authenticated by aigw's own tokens"):
        ServiceAuth(verifier)


@pytest.mark.parametrize("build_server", [config_server.build_server, proxy_server.build_server])
def test_internal_services_cannot_be_built_without_saying_how_callers_are_admitted(
    build_server: Any,
) -> None:
    # An entry point that forgets `auth` fails at once instead of serving an open service.
    assert inspect.signature(build_server).parameters["auth"].default is inspect.Parameter.empty
