"""Model limits held across replicas on a real Redis: leases, expiry, and Redis going away."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from pydantic import SecretStr

from aigw_cli.local_suite import free_ports
from aigw_common.errors import ResourceExhausted, UpstreamUnavailable
from aigw_common.metrics import LIMIT_STORE_FAILURES
from aigw_common.settings import RedisSettings
from model_proxy_svc.shared_limits import SharedConcurrencyLimiter
from tests.backing_services import REDIS_URL


@pytest.fixture
def settings(redis_prefix: str) -> RedisSettings:
    return RedisSettings(url=SecretStr(REDIS_URL), key_prefix=redis_prefix, lease_ttl_s=1)


@pytest.fixture
async def replicas(settings: RedisSettings) -> AsyncIterator[list[SharedConcurrencyLimiter]]:
    limiters = [SharedConcurrencyLimiter(settings) for _ in range(2)]
    yield limiters
    for limiter in limiters:
        await limiter.aclose()


async def test_a_limit_holds_across_replicas_and_slots_come_back(
    replicas: list[SharedConcurrencyLimiter],
) -> None:
    first, second = replicas
    async with contextlib.AsyncExitStack() as stack:
        for index in range(4):
            await stack.enter_async_context((first if index % 2 else second).slot("m", 4))
        for limiter in replicas:
            with pytest.raises(ResourceExhausted) as refused:
                await stack.enter_async_context(limiter.slot("m", 4))
            assert refused.value.metadata["retry_after_s"] == "1"
        # Another model has its own slots.
        await stack.enter_async_context(first.slot("other", 1))
    async with first.slot("m", 4), second.slot("m", 4):
        pass


async def test_leases_are_renewed_while_held_and_a_dead_replicas_expire(
    replicas: list[SharedConcurrencyLimiter], settings: RedisSettings
) -> None:
    first, second = replicas
    async with first.slot("m", 1):
        await asyncio.sleep(2.5 * settings.lease_ttl_s)  # renewed meanwhile
        with pytest.raises(ResourceExhausted):
            async with second.slot("m", 1):
                pass
    # A replica that died holding a slot left a lease nobody renews or releases.
    client = redis.Redis.from_url(REDIS_URL)
    try:
        seconds, micros = await client.time()
        expires_ms = seconds * 1000 + micros // 1000 + int(settings.lease_ttl_s * 1000)
        await client.zadd(first.key("m"), {"dead-replica": expires_ms})
    finally:
        await client.aclose()
    with pytest.raises(ResourceExhausted):
        async with second.slot("m", 1):
            pass
    await asyncio.sleep(settings.lease_ttl_s + 0.2)
    async with second.slot("m", 1):
        pass


@pytest.fixture
def lost_redis() -> str:
    """A Redis URL nothing listens on."""
    (port,) = free_ports(1)
    return f"redis://127.0.0.1:{port}/0"


async def test_fail_open_admits_by_the_local_count_and_counts_the_failure(lost_redis: str) -> None:
    limiter = SharedConcurrencyLimiter(RedisSettings(url=SecretStr(lost_redis), lease_ttl_s=1))
    before = LIMIT_STORE_FAILURES.labels(outcome="admitted")._value.get()
    try:
        async with limiter.slot("m", 1):
            with pytest.raises(ResourceExhausted):
                async with limiter.slot("m", 1):
                    pass
    finally:
        await limiter.aclose()
    assert LIMIT_STORE_FAILURES.labels(outcome="admitted")._value.get() == before + 2


async def test_fail_closed_refuses_clearly(lost_redis: str) -> None:
    limiter = SharedConcurrencyLimiter(
        RedisSettings(url=SecretStr(lost_redis), failure_mode="closed")
    )
    try:
        with pytest.raises(UpstreamUnavailable, match="AIGW_REDIS__URL") as refused:
            async with limiter.slot("m", 1):
                pass
    finally:
        await limiter.aclose()
    assert refused.value.reason == "LIMIT_STORE_UNAVAILABLE"
