"""Requests and tokens per minute, per caller and per feature, with the `limits` library.

Counted in Redis when AIGW_REDIS__URL is set (every router shares the windows: a sliding window
counter per caller and per feature), else in this process. A request is admitted when each
request window has room and no token window is spent; the tokens an answer used are counted
when it ends (a window is filled, never overfilled, so the next request waits for it to free
up). A refusal is RESOURCE_EXHAUSTED with `retry_after_s`: the REST shim answers 429 with
Retry-After, gRPC callers get a RetryInfo.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool

from aigw_common.errors import ResourceExhausted
from aigw_common.limit_store import on_store_failure
from aigw_common.settings import RateLimitSettings, RedisSettings


class RateLimits:
    """The configured windows; `admit` before a call, `spend` its tokens after."""

    def __init__(self, settings: RateLimitSettings, redis: RedisSettings) -> None:
        self._redis = redis
        self._pool: ConnectionPool | None = None
        storage: Storage
        if redis.url is not None:
            # Our own pool, so that closing the router closes its connections.
            self._pool = ConnectionPool.from_url(
                redis.url.get_secret_value(),
                socket_timeout=redis.socket_timeout_s,
                socket_connect_timeout=redis.socket_timeout_s,
            )
            storage = RedisStorage(
                "async+" + redis.url.get_secret_value(),
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix=f"{redis.key_prefix}:rate",
                connection_pool=self._pool,  # type: ignore[arg-type]  # limits passes it on to redis-py
            )
        else:
            storage = MemoryStorage()
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._requests = _windows(
            ("caller", settings.caller_requests_per_minute),
            ("feature", settings.feature_requests_per_minute),
        )
        self._tokens = _windows(
            ("caller", settings.caller_tokens_per_minute),
            ("feature", settings.feature_tokens_per_minute),
        )

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    @property
    def enabled(self) -> bool:
        return bool(self._requests or self._tokens)

    async def admit(self, subject: str, feature: str) -> None:
        """Count one request for `subject` and `feature`; ResourceExhausted if a window is
        full (nothing is counted then)."""
        if not self.enabled:
            return
        keys = {"caller": subject, "feature": feature}
        try:
            for kind, item in self._tokens:
                if not await self._limiter.test(item, "tokens", kind, keys[kind]):
                    raise await self._refusal(item, ("tokens", kind, keys[kind]), "tokens")
            for kind, item in self._requests:
                if not await self._limiter.test(item, "requests", kind, keys[kind]):
                    raise await self._refusal(item, ("requests", kind, keys[kind]), "requests")
            for kind, item in self._requests:
                await self._limiter.hit(item, "requests", kind, keys[kind])
        except StorageError as error:
            on_store_failure(self._redis, error, limit="rate limits")

    async def spend(self, subject: str, feature: str, tokens: int) -> None:
        """Count the tokens an answer used (input and output)."""
        if tokens <= 0 or not self._tokens:
            return
        keys = {"caller": subject, "feature": feature}
        try:
            for kind, item in self._tokens:
                identifiers = ("tokens", kind, keys[kind])
                stats = await self._limiter.get_window_stats(item, *identifiers)
                cost = min(tokens, stats.remaining)
                if cost > 0:
                    await self._limiter.hit(item, *identifiers, cost=cost)
        except StorageError as error:
            on_store_failure(self._redis, error, limit="rate limits")

    async def _refusal(
        self, item: RateLimitItem, identifiers: tuple[str, str, str], unit: str
    ) -> ResourceExhausted:
        _, kind, key = identifiers
        stats = await self._limiter.get_window_stats(item, *identifiers)
        wait_s = max(1, math.ceil(stats.reset_time - time.time()))
        who = "this caller" if kind == "caller" else f"feature {key!r}"
        return ResourceExhausted(
            f"rate limit: {who} may use {item.amount} {unit} per minute; retry in {wait_s} s",
            metadata={"limit": f"{item.amount} {unit}/minute", "retry_after_s": str(wait_s)},
            reason="RATE_LIMITED",
        )


def _windows(*limits: tuple[str, int]) -> list[tuple[str, RateLimitItem]]:
    return [(kind, RateLimitItemPerMinute(amount)) for kind, amount in limits if amount > 0]
