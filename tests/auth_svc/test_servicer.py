from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from aigw.auth.v1 import auth_service_pb2 as pb
from aigw.auth.v1 import auth_service_pb2_grpc
from aigw_common.grpc_errors import from_rpc_error
from aigw_common.grpc_server import set_serving
from aigw_common.settings import AuthSettings, Settings
from aigw_common.token_verifier import JwksCache, TokenVerifier
from auth_svc.server import SERVICE_NAME, build_server, load_dependencies

ADMIN = (("authorization", "Bearer admin-secret"),)


@dataclass
class RunningAuth:
    stub: auth_service_pb2_grpc.AuthServiceAsyncStub
    channel: grpc.aio.Channel
    settings: Settings


@pytest.fixture
async def auth(settings: Settings) -> AsyncIterator[RunningAuth]:
    settings = settings.model_copy(
        update={"auth": AuthSettings(token_ttl_s=600, max_token_ttl_s=3600)}
    )
    keys, _ = await load_dependencies(settings)
    health_servicer = health.aio.HealthServicer()
    server, port = await build_server(
        settings, health_servicer, keys=keys, admin_credential="admin-secret"
    )
    await server.start()
    await set_serving(health_servicer, [SERVICE_NAME], serving=True)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield RunningAuth(auth_service_pb2_grpc.AuthServiceStub(channel), channel, settings)
    finally:
        await channel.close()
        await server.stop(None)


async def _issue(auth: RunningAuth, **fields: Any) -> pb.IssueTokenResponse:
    request = pb.IssueTokenRequest(**{"subject": "ide-user", "scopes": ["duo_chat"], **fields})
    return await auth.stub.IssueToken(request, metadata=ADMIN, timeout=5)


async def test_health_reports_serving(auth: RunningAuth) -> None:
    # The grpc_health stubs declare no methods on HealthStub.
    stub: Any = health_pb2_grpc.HealthStub(auth.channel)
    for name in ("", SERVICE_NAME):
        response = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert response.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ((), "No authorization header presented"),
        ((("authorization", "Basic admin-secret"),), "Invalid authorization header"),
        ((("authorization", "Bearer wrong"),), "IssueToken needs the admin credential"),
        ((("authorization", "Bearer admin-secret-and-more"),), "needs the admin credential"),
    ],
)
async def test_issue_token_needs_the_admin_credential(
    auth: RunningAuth, metadata: tuple[tuple[str, str], ...], message: str
) -> None:
    request = pb.IssueTokenRequest(subject="ide-user", scopes=["duo_chat"])
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await auth.stub.IssueToken(request, metadata=metadata, timeout=5)

    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert message in (raised.value.details() or "")
    assert "admin-secret" not in (raised.value.details() or "")


async def test_the_admin_check_comes_before_input_checks(auth: RunningAuth) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await auth.stub.IssueToken(pb.IssueTokenRequest(), timeout=5)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"subject": "x" * 256}, "subject"),
        ({"subject": "line\nbreak"}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["Duo_Chat"]}, "scopes"),
        ({"scopes": ["duo_chat", ""]}, "scopes"),
        ({"scopes": ["has space"]}, "scopes"),
        ({"scopes": ["x" * 65]}, "scopes"),
        ({"scopes": [f"s{i}" for i in range(65)]}, "scopes"),
        ({"ttl": Duration(seconds=-1)}, "ttl"),
        ({"ttl": Duration(seconds=3601)}, "ttl"),
        ({"ttl": Duration(nanos=500_000_000)}, "ttl"),
        ({"ttl": Duration(seconds=2**62)}, "ttl"),
    ],
)
async def test_bad_input_is_invalid_argument_naming_the_field_and_the_server_carries_on(
    auth: RunningAuth, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _issue(auth, **fields)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (raised.value.details() or "")
    assert from_rpc_error(raised.value).field == field
    assert (await _issue(auth)).token


async def test_a_token_too_large_for_verifiers_is_not_issued(settings: Settings) -> None:
    settings = settings.model_copy(update={"auth": AuthSettings(max_token_bytes=1000)})
    keys, _ = await load_dependencies(settings)
    server, port = await build_server(settings, keys=keys, admin_credential="admin-secret")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = auth_service_pb2_grpc.AuthServiceStub(channel)
            request = pb.IssueTokenRequest(subject="a", scopes=[f"s{i:062}" for i in range(20)])
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.IssueToken(request, metadata=ADMIN, timeout=5)
    finally:
        await server.stop(None)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert from_rpc_error(raised.value).field == "scopes"


async def test_an_issued_token_verifies(auth: RunningAuth) -> None:
    issued = await _issue(auth, scopes=["duo_chat", "code_suggestions"], ttl=Duration(seconds=120))

    verified = await auth.stub.VerifyToken(pb.VerifyTokenRequest(token=issued.token), timeout=5)

    assert verified.subject == "ide-user"
    assert sorted(verified.scopes) == ["code_suggestions", "duo_chat"]
    assert verified.issuer == "aigw"
    assert verified.expires_at == issued.expires_at
    assert abs(issued.expires_at.seconds - (time.time() + 120)) < 5


async def test_the_default_ttl_applies_when_none_is_asked_for(auth: RunningAuth) -> None:
    issued = await _issue(auth)
    assert abs(issued.expires_at.seconds - (time.time() + 600)) < 5


@pytest.mark.parametrize(
    ("token", "message"), [("", "token is malformed"), ("a.b.c", "token is malformed")]
)
async def test_verify_token_rejects_an_invalid_token_with_the_reason(
    auth: RunningAuth, token: str, message: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await auth.stub.VerifyToken(pb.VerifyTokenRequest(token=token), timeout=5)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert raised.value.details() == message


async def test_verify_token_rejects_a_tampered_token(auth: RunningAuth) -> None:
    header, payload, signature = (await _issue(auth)).token.split(".")
    tampered = (
        f"{header}.{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{signature}"
    )

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await auth.stub.VerifyToken(pb.VerifyTokenRequest(token=tampered), timeout=5)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert tampered not in (raised.value.details() or "")


async def test_get_jwks_keys_verify_tokens_in_process(auth: RunningAuth) -> None:
    issued = await _issue(auth, scopes=["duo_chat"])
    jwks = await auth.stub.GetJwks(pb.GetJwksRequest(), timeout=5)
    assert (jwks.issuer, jwks.audience) == ("aigw", "gitlab-ai-gateway")
    assert '"kid"' in jwks.jwks_json

    cache = JwksCache.from_auth_channel(auth.channel, auth.settings.auth)
    await cache.start()
    try:
        principal = await TokenVerifier(cache, auth.settings.auth).verify(issued.token)
    finally:
        await cache.close()

    assert principal.subject == "ide-user"
    assert principal.can("duo_chat")
    assert not principal.can("code_suggestions")
    assert int(principal.expires_at.timestamp()) == issued.expires_at.seconds


@pytest.mark.parametrize("rpc", ["RotateKeys", "GetKeySet"])
async def test_key_administration_needs_the_admin_credential(auth: RunningAuth, rpc: str) -> None:
    request = pb.RotateKeysRequest() if rpc == "RotateKeys" else pb.GetKeySetRequest()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await getattr(auth.stub, rpc)(request, metadata=(("authorization", "Bearer x"),), timeout=5)

    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert raised.value.details() == f"{rpc} needs the admin credential"
    listed = await auth.stub.GetKeySet(pb.GetKeySetRequest(), metadata=ADMIN, timeout=5)
    assert [key.state for key in listed.keys] == [pb.KEY_STATE_ACTIVE, pb.KEY_STATE_NEXT]


async def test_rotating_right_after_the_keys_were_made_is_refused_with_when_to_retry(
    auth: RunningAuth,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await auth.stub.RotateKeys(pb.RotateKeysRequest(), metadata=ADMIN, timeout=5)

    error = from_rpc_error(raised.value)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "rotate again in" in error.message
    assert 0 < int(error.metadata["retry_after_s"]) <= 10


def test_the_default_lifetime_cannot_exceed_the_maximum() -> None:
    with pytest.raises(ValueError, match="must not exceed AIGW_AUTH__MAX_TOKEN_TTL_S"):
        AuthSettings(token_ttl_s=7200, max_token_ttl_s=3600)
