"""What a limit does when Redis, where replicas share their counts, cannot be reached: one
policy (AIGW_REDIS__FAILURE_MODE) for every limit, counted in aigw_limit_store_failures_total."""

from __future__ import annotations

import structlog

from aigw_common.errors import UpstreamUnavailable
from aigw_common.metrics import LIMIT_STORE_FAILURES
from aigw_common.settings import RedisSettings

_log = structlog.get_logger(__name__)


def on_store_failure(settings: RedisSettings, error: Exception, *, limit: str) -> None:
    """Fail closed (raise UpstreamUnavailable: 503) or open (return: the caller admits by its
    own count, or not at all), as configured; either way counted and logged."""
    if settings.failure_mode == "closed":
        LIMIT_STORE_FAILURES.labels(outcome="refused").inc()
        _log.warning("limit store unreachable; refusing", limit=limit, error=type(error).__name__)
        raise UpstreamUnavailable(
            "the shared limit store (AIGW_REDIS__URL) is unreachable and "
            "AIGW_REDIS__FAILURE_MODE=closed; retry later",
            reason="LIMIT_STORE_UNAVAILABLE",
        ) from None
    LIMIT_STORE_FAILURES.labels(outcome="admitted").inc()
    _log.warning("limit store unreachable; admitting", limit=limit, error=type(error).__name__)
