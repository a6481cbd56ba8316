"""Per-model admission counting."""

from __future__ import annotations

from contextlib import AsyncExitStack

import grpc
import pytest

from aigw_common.errors import ResourceExhausted
from model_proxy_svc.limits import ConcurrencyLimiter


async def test_slots_are_counted_per_model_and_released() -> None:
    limiter = ConcurrencyLimiter()

    async with limiter.slot("a", 2), limiter.slot("a", 2):
        with pytest.raises(ResourceExhausted) as caught:
            async with limiter.slot("a", 2):
                pass
        assert caught.value.grpc_code == grpc.StatusCode.RESOURCE_EXHAUSTED
        async with limiter.slot("b", 1):
            assert limiter.in_flight("b") == 1
        assert limiter.in_flight("a") == 2
    assert limiter.in_flight("a") == 0


async def test_zero_means_unlimited_and_errors_release() -> None:
    limiter = ConcurrencyLimiter()

    async with AsyncExitStack() as stack:
        for _ in range(100):
            await stack.enter_async_context(limiter.slot("a", 0))
        assert limiter.in_flight("a") == 100
    assert limiter.in_flight("a") == 0

    with pytest.raises(ValueError, match="boom"):
        async with limiter.slot("a", 1):
            raise ValueError("boom")
    async with limiter.slot("a", 1):
        assert limiter.in_flight("a") == 1
