"""A model's `max_concurrent_requests` held across every model-proxy replica, on Redis.

Each request in flight holds a lease: a member of the model's sorted set, scored with the time
(Redis's own clock, so replicas' clocks never matter) it expires. Taking a slot drops expired
leases and adds one only while fewer than the limit remain, in one script (atomic on the
server); the lease is renewed while the request runs and removed when it ends. A replica that
dies stops renewing: its slots come back within `lease_ttl_s`.

When Redis cannot be reached, `failure_mode` decides: "open" admits by this process's own count
(limits then hold per replica, as without Redis), "closed" refuses with 503; either way the
failure is counted in aigw_limit_store_failures_total.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as redis
import structlog

from aigw_common.limit_store import on_store_failure
from aigw_common.metrics import LIMIT_STORE_FAILURES
from aigw_common.settings import RedisSettings
from model_proxy_svc.limits import ConcurrencyLimiter, limit_reached

_log = structlog.get_logger(__name__)

# KEYS[1]: the model's leases. ARGV: lease id, limit, lease ttl (ms). 1 if taken, else the
# number of leases held.
_ACQUIRE = """
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
local held = redis.call('ZCARD', KEYS[1])
if held >= tonumber(ARGV[2]) then
  return -held
end
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[3]))
return 1
"""
# KEYS[1]: the model's leases. ARGV: lease id, lease ttl (ms). Only a lease still held moves.
_RENEW = """
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
local renewed = redis.call('ZADD', KEYS[1], 'XX', 'CH', now_ms + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return renewed
"""


class SharedConcurrencyLimiter:
    """Admission by leases in Redis; see the module's docstring."""

    def __init__(self, settings: RedisSettings, client: redis.Redis | None = None) -> None:
        assert settings.url is not None
        self._settings = settings
        self._client = client or redis.Redis.from_url(
            settings.url.get_secret_value(),
            socket_timeout=settings.socket_timeout_s,
            socket_connect_timeout=settings.socket_timeout_s,
        )
        self._acquire: Any = self._client.register_script(_ACQUIRE)
        self._renew: Any = self._client.register_script(_RENEW)
        self._local = ConcurrencyLimiter()
        self._ttl_ms = int(settings.lease_ttl_s * 1000)

    async def aclose(self) -> None:
        await self._client.aclose()

    def key(self, model: str) -> str:
        return f"{self._settings.key_prefix}:leases:{model}"

    @asynccontextmanager
    async def slot(self, model: str, limit: int) -> AsyncIterator[None]:
        if limit <= 0:
            yield
            return
        lease = uuid.uuid4().hex
        try:
            taken = int(
                await self._acquire(keys=[self.key(model)], args=[lease, limit, self._ttl_ms])
            )
        except redis.RedisError as error:
            async with self._unavailable(model, limit, error):
                yield
            return
        if taken != 1:
            raise limit_reached(model, -taken, limit)
        renewing = asyncio.create_task(self._keep(model, lease))
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            await self._release(model, lease)

    @asynccontextmanager
    async def _unavailable(self, model: str, limit: int, error: Exception) -> AsyncIterator[None]:
        on_store_failure(self._settings, error, limit="max_concurrent_requests")
        # Fail-open: this process's own count still bounds the model.
        async with self._local.slot(model, limit):
            yield

    async def _keep(self, model: str, lease: str) -> None:
        """Renew the lease at a third of its life, so two missed renewals still keep it."""
        while True:
            await asyncio.sleep(self._settings.lease_ttl_s / 3)
            try:
                await self._renew(keys=[self.key(model)], args=[lease, self._ttl_ms])
            except redis.RedisError as error:
                LIMIT_STORE_FAILURES.labels(outcome="renewal_failed").inc()
                _log.warning("cannot renew a model slot lease", error=type(error).__name__)

    async def _release(self, model: str, lease: str) -> None:
        try:
            await self._client.zrem(self.key(model), lease)
        except redis.RedisError as error:
            # The lease expires by itself within lease_ttl_s.
            LIMIT_STORE_FAILURES.labels(outcome="release_failed").inc()
            _log.warning("cannot release a model slot lease", error=type(error).__name__)
