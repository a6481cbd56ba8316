"""Per-model admission: at most `limits.max_concurrent_requests` requests in flight at once,
counted in this process (one machine) or across every replica (shared_limits.py, on Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from aigw_common.errors import ResourceExhausted

# What a refused caller is told to wait before trying again (HTTP Retry-After).
RETRY_AFTER_S = 1


class Admission(Protocol):
    def slot(self, model: str, limit: int) -> AbstractAsyncContextManager[None]:
        """Hold one of `model`'s slots for the block; `limit` 0 means unlimited.
        ResourceExhausted when all are taken."""
        ...


def limit_reached(model: str, count: int, limit: int) -> ResourceExhausted:
    return ResourceExhausted(
        f"model {model!r} already has {count} requests in flight, its "
        "limits.max_concurrent_requests; retry later or raise the limit",
        metadata={"model": model, "limit": str(limit), "retry_after_s": str(RETRY_AFTER_S)},
    )


class ConcurrencyLimiter:
    """Counts requests in flight per model name in this process; refuses the one too many."""

    def __init__(self) -> None:
        self._in_flight: dict[str, int] = {}

    def in_flight(self, model: str) -> int:
        return self._in_flight.get(model, 0)

    @asynccontextmanager
    async def slot(self, model: str, limit: int) -> AsyncIterator[None]:
        """Hold one of `model`'s slots for the block; `limit` 0 means unlimited."""
        count = self._in_flight.get(model, 0)
        if 0 < limit <= count:
            raise limit_reached(model, count, limit)
        self._in_flight[model] = count + 1
        try:
            yield
        finally:
            remaining = self._in_flight[model] - 1
            if remaining:
                self._in_flight[model] = remaining
            else:
                del self._in_flight[model]
