"""Key rotation while completions flow: no valid token is ever refused.

Clients keep asking auth_svc for tokens and calling the router (gRPC and REST alternately) while
the keys are rotated twice, as far apart as auth_svc allows. The first rotation promotes a key
the router has had since it started; the second promotes one published after the router's last
fetch, which the router finds by refreshing on the unknown kid. Tokens minted before either
rotation keep verifying throughout.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import jwt
import pytest

from aigw.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from auth_svc.keys import MIN_ROTATION_INTERVAL_S, KeyStore
from tests.auth_support import ADMIN_CREDENTIAL
from tests.security.conftest import SecureStack, grpc_outcome, rest_outcome, secure_stack

ADMIN = [("authorization", f"Bearer {ADMIN_CREDENTIAL}")]

pytestmark = pytest.mark.timeout(60)


async def test_rotation_under_traffic_refuses_no_valid_token(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # Keys made an hour ago, so the first rotation may happen at once.
    KeyStore.load_or_create(data_dir, "RS256", clock=lambda: datetime.now(UTC) - timedelta(hours=1))
    async with secure_stack(data_dir) as stack:
        await _rotate_twice_under_traffic(stack)


async def _rotate_twice_under_traffic(stack: SecureStack) -> None:
    async with grpc.aio.insecure_channel(stack.settings.auth_svc.address) as channel:
        await _rotate_with(stack, auth_service_pb2_grpc.AuthServiceStub(channel))


async def _rotate_with(
    stack: SecureStack, auth: auth_service_pb2_grpc.AuthServiceAsyncStub
) -> None:
    async def mint() -> str:
        request = auth_service_pb2.IssueTokenRequest(subject="ide", scopes=["complete_code"])
        response = await auth.IssueToken(request, metadata=ADMIN, timeout=5)
        return response.token

    early_token = await mint()
    served_by_kid: Counter[str] = Counter()
    refusals: list[tuple[str, object]] = []
    stop = asyncio.Event()

    async def traffic() -> None:
        calls = 0
        while not stop.is_set():
            token = early_token if calls % 5 == 4 else await mint()
            if calls % 2:
                status, body = await rest_outcome(stack, {"Authorization": f"Bearer {token}"})
                ok = status == 200
                outcome: object = (status, body)
            else:
                code, details = await grpc_outcome(stack, [("authorization", f"Bearer {token}")])
                ok = code == grpc.StatusCode.OK
                outcome = (code.name, details)
            kid = jwt.get_unverified_header(token)["kid"]
            if ok:
                served_by_kid[kid] += 1
            else:
                refusals.append((kid, outcome))
            calls += 1

    runner = asyncio.create_task(traffic())
    try:
        await asyncio.sleep(0.3)
        first = await auth.RotateKeys(auth_service_pb2.RotateKeysRequest(), metadata=ADMIN)
        rotated_at = time.monotonic()
        # auth_svc refuses to rotate again until every router can have seen the new next key.
        with pytest.raises(grpc.aio.AioRpcError) as too_soon:
            await auth.RotateKeys(auth_service_pb2.RotateKeysRequest(), metadata=ADMIN)
        assert too_soon.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        router_kids_before = stack.router_keys.kids
        await asyncio.sleep(MIN_ROTATION_INTERVAL_S - (time.monotonic() - rotated_at) + 0.2)
        second = await auth.RotateKeys(auth_service_pb2.RotateKeysRequest(), metadata=ADMIN)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await runner

    print(f"calls served per signing key: {dict(served_by_kid)}; refused: {len(refusals)}")
    assert refusals == []
    # Traffic was signed by the original key, and by each key the rotations promoted.
    original = jwt.get_unverified_header(early_token)["kid"]
    assert first.retiring_key.kid == original
    assert second.retiring_key.kid == first.active_key.kid
    assert {original, first.active_key.kid, second.active_key.kid} <= set(served_by_kid)
    # The second signer was published after the router's start-up fetch: the router found it
    # by refreshing on its unknown kid.
    assert second.active_key.kid not in router_kids_before
    assert second.active_key.kid in stack.router_keys.kids
    # Both replaced keys stay published until their last token can have expired.
    key_set = await auth.GetKeySet(auth_service_pb2.GetKeySetRequest(), metadata=ADMIN)
    states = {key.kid: auth_service_pb2.KeyState.Name(key.state) for key in key_set.keys}
    assert states == {
        second.active_key.kid: "KEY_STATE_ACTIVE",
        second.next_key.kid: "KEY_STATE_NEXT",
        first.active_key.kid: "KEY_STATE_RETIRING",
        original: "KEY_STATE_RETIRING",
    }
    retention = stack.settings.auth.key_retention_s
    retire_at = second.retiring_key.retire_time.ToSeconds()
    assert retire_at == second.retiring_key.deactivate_time.ToSeconds() + retention
