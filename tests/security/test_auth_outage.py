"""auth_svc or the GitLab instance being down stops no traffic while cached keys are valid."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from aigw.modelproxy.v1 import model_proxy_service_pb2, model_proxy_service_pb2_grpc
from tests.security.conftest import grpc_outcome, rest_outcome, secure_stack


async def test_the_router_keeps_verifying_with_auth_svc_stopped(tmp_path: Path) -> None:
    async with secure_stack(tmp_path / "data") as stack:
        token = stack.aigw_token("complete_code")
        gitlab_token = stack.gitlab.token(["complete_code"])
        assert (await grpc_outcome(stack, [("authorization", f"Bearer {token}")]))[0].name == "OK"

        await stack.auth.server.stop(None)
        assert not await stack.router_keys.refresh()  # auth_svc is really gone

        for _ in range(5):
            code, _ = await grpc_outcome(stack, [("authorization", f"Bearer {token}")])
            assert code == grpc.StatusCode.OK
            status, _ = await rest_outcome(stack, {"Authorization": f"Bearer {token}"})
            assert status == 200
            status, _ = await rest_outcome(stack, stack.gitlab.headers(gitlab_token))
            assert status == 200
        # A token signed while auth_svc is down (by its key, e.g. just before it stopped).
        late = stack.aigw_token("complete_code", subject="late")
        code, _ = await grpc_outcome(stack, [("authorization", f"Bearer {late}")])
        assert code == grpc.StatusCode.OK
        # An unknown kid cannot be looked up now: refused, and the cached keys stay.
        stranger = stack.gitlab.token(["complete_code"], iss=stack.settings.auth.issuer)
        assert await rest_outcome(stack, {"Authorization": f"Bearer {stranger}"}) == (
            401,
            {"error": "unknown signing key"},
        )
        code, _ = await grpc_outcome(stack, [("authorization", f"Bearer {token}")])
        assert code == grpc.StatusCode.OK


async def test_the_router_keeps_verifying_gitlab_tokens_with_the_instance_down(
    tmp_path: Path,
) -> None:
    async with secure_stack(tmp_path / "data") as stack:
        token = stack.gitlab.token(["complete_code"])
        assert (await rest_outcome(stack, stack.gitlab.headers(token)))[0] == 200

        stack.gitlab.behaviour.discovery_status = 503
        same_key = stack.gitlab.token(["complete_code"])
        stack.gitlab.rotate(keep_old=False)
        unknown = stack.gitlab.token(["complete_code"])

        assert (await rest_outcome(stack, stack.gitlab.headers(token)))[0] == 200
        assert (await rest_outcome(stack, stack.gitlab.headers(same_key)))[0] == 200
        # A key the instance made while unreachable cannot be fetched: refused, cache kept.
        assert await rest_outcome(stack, stack.gitlab.headers(unknown)) == (
            401,
            {"error": "unknown signing key"},
        )
        assert (await rest_outcome(stack, stack.gitlab.headers(token)))[0] == 200


async def test_with_authentication_bypassed_callers_need_no_token_but_services_still_do(
    tmp_path: Path,
) -> None:
    async with secure_stack(tmp_path / "data", bypass=True) as stack:
        code, text = await grpc_outcome(stack, [])
        status, body = await rest_outcome(stack, {})
        async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.proxy_port}") as channel:
            proxy = model_proxy_service_pb2_grpc.ModelProxyServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await proxy.Generate(model_proxy_service_pb2.GenerateRequest(), timeout=5)

    assert (code, bool(text)) == (grpc.StatusCode.OK, True)
    assert status == 200
    assert body["choices"]
    # The router reached the model with its own service token; a direct call without one fails.
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
