"""Per-model admission: at most `limits.max_concurrent_requests` requests in flight at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aigw_common.errors import ResourceExhausted


class ConcurrencyLimiter:
    """Counts requests in flight per model name in this process; refuses the one too many."""

    def __init__(self) -> None:
        self._in_flight: dict[str, int] = {}

    def in_flight(self, model: str) -> int:
        return self._in_flight.get(model, 0)

    @contextmanager
    def slot(self, model: str, limit: int) -> Iterator[None]:
        """Hold one of `model`'s slots for the block; `limit` 0 means unlimited."""
        count = self._in_flight.get(model, 0)
        if 0 < limit <= count:
            raise ResourceExhausted(
                f"model {model!r} already has {count} requests in flight, its "
                "limits.max_concurrent_requests; retry later or raise the limit",
                metadata={"model": model, "limit": str(limit)},
            )
        self._in_flight[model] = count + 1
        try:
            yield
        finally:
            remaining = self._in_flight[model] - 1
            if remaining:
                self._in_flight[model] = remaining
            else:
                del self._in_flight[model]
