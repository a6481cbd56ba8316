"""Requests and tokens per minute, per caller and per feature: in one router, and shared by
routers through a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from pydantic import SecretStr

from aigw.router.v1 import router_service_pb2
from aigw_cli.local_suite import free_ports
from aigw_common.errors import ResourceExhausted, UpstreamUnavailable
from aigw_common.settings import RateLimitSettings, RedisSettings, Settings
from aigw_simulator.serving import BackgroundSimulator
from router_svc.rate_limits import RateLimits
from tests.backing_services import REDIS_URL
from tests.router_svc.conftest import Stack, running_stack

COMPLETION = router_service_pb2.CompleteRequest(
    completion=router_service_pb2.Completion(
        feature="code_completions",
        code=router_service_pb2.CodeContext(file_name="a.py", content_above_cursor="def f():\n"),
    )
)


@pytest.fixture
def redis(redis_prefix: str) -> RedisSettings:
    return RedisSettings(url=SecretStr(REDIS_URL), key_prefix=redis_prefix)


@pytest.fixture
async def opened() -> AsyncIterator[list[RateLimits]]:
    """Rate limits a test opens, closed after it."""
    made: list[RateLimits] = []
    yield made
    for limits in made:
        await limits.aclose()


async def test_two_routers_share_a_callers_request_window(redis: RedisSettings) -> None:
    settings = RateLimitSettings(caller_requests_per_minute=3)
    first, second = RateLimits(settings, redis), RateLimits(settings, redis)
    try:
        for limits in (first, second, first):
            await limits.admit("alice", "code_completions")
        with pytest.raises(ResourceExhausted) as refused:
            await second.admit("alice", "code_generations")
        await second.admit("bob", "code_completions")
    finally:
        await first.aclose()
        await second.aclose()

    assert refused.value.reason == "RATE_LIMITED"
    assert 1 <= int(refused.value.metadata["retry_after_s"]) <= 60
    assert "3 requests per minute" in refused.value.message


async def test_a_feature_window_counts_every_caller(
    redis: RedisSettings, opened: list[RateLimits]
) -> None:
    limits = RateLimits(RateLimitSettings(feature_requests_per_minute=2), redis)
    opened.append(limits)
    await limits.admit("alice", "duo_chat")
    await limits.admit("bob", "duo_chat")

    with pytest.raises(ResourceExhausted, match="feature 'duo_chat'"):
        await limits.admit("carol", "duo_chat")
    await limits.admit("carol", "code_completions")


async def test_spent_tokens_close_the_window_without_overfilling_it(
    redis: RedisSettings, opened: list[RateLimits]
) -> None:
    limits = RateLimits(RateLimitSettings(caller_tokens_per_minute=100), redis)
    opened.append(limits)
    await limits.admit("alice", "code_completions")
    await limits.spend("alice", "code_completions", 60)
    await limits.admit("alice", "code_completions")
    await limits.spend("alice", "code_completions", 500)

    with pytest.raises(ResourceExhausted, match="100 tokens per minute"):
        await limits.admit("alice", "code_completions")
    await limits.admit("bob", "code_completions")


async def test_no_limits_configured_touches_no_store(opened: list[RateLimits]) -> None:
    # An unreachable Redis is never asked when nothing is limited.
    (port,) = free_ports(1)
    limits = RateLimits(
        RateLimitSettings(),
        RedisSettings(url=SecretStr(f"redis://127.0.0.1:{port}/0"), failure_mode="closed"),
    )
    opened.append(limits)
    await limits.admit("alice", "code_completions")
    await limits.spend("alice", "code_completions", 10)


@pytest.mark.parametrize("mode", ["open", "closed"])
async def test_an_unreachable_redis_follows_the_failure_mode(
    mode: str, opened: list[RateLimits]
) -> None:
    (port,) = free_ports(1)
    redis = RedisSettings(
        url=SecretStr(f"redis://127.0.0.1:{port}/0"),
        failure_mode=mode,
    )
    limits = RateLimits(RateLimitSettings(caller_requests_per_minute=1), redis)
    opened.append(limits)

    if mode == "open":
        await limits.admit("alice", "code_completions")
        await limits.admit("alice", "code_completions")
    else:
        with pytest.raises(UpstreamUnavailable, match="AIGW_REDIS__URL"):
            await limits.admit("alice", "code_completions")


@pytest.fixture
async def limited_stack(
    settings: Settings, simulator: BackgroundSimulator, redis: RedisSettings
) -> AsyncIterator[Stack]:
    limited = settings.model_copy(
        update={
            "redis": redis,
            "rate_limits": RateLimitSettings(caller_requests_per_minute=2),
        }
    )
    async with running_stack(limited, simulator) as stack:
        await stack.add_model("m", simulator.endpoint)
        await stack.assign("code_completions", "m")
        yield stack


async def test_the_router_refuses_with_resource_exhausted_and_retry_info(
    limited_stack: Stack,
) -> None:
    metadata = limited_stack.metadata("complete_code")
    for _ in range(2):
        await limited_stack.router.Complete(COMPLETION, metadata=metadata, timeout=5)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await limited_stack.router.Complete(COMPLETION, metadata=metadata, timeout=5)

    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    raw = dict(refused.value.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)
    retry = error_details_pb2.RetryInfo()
    assert any(detail.Unpack(retry) for detail in status.details)
    assert 1 <= retry.retry_delay.seconds <= 60
