"""One deadline per request, set where it enters aigw and carried by gRPC to every hop.

The REST shim sets it from AIGW_FASTAPI__REQUEST_TIMEOUT_S (a gRPC caller sets its own). The
router narrows it, for each model it tries, to that model's own timeout: `limits.timeout`, else
its prompt template's `timeout_s`, else AIGW_MODEL_PROXY__DEFAULT_TIMEOUT_S. Every later hop
only honours what is left of it: gRPC carries the remaining time as each call's timeout, and
the model proxy bounds the model server's exchange by it. No hop recomputes a budget of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context

# Each hop stops this much before its caller's deadline, so that its own answer (a clear
# timeout error included) reaches the caller before the caller's clock cancels the call.
REPLY_MARGIN_S = 0.01
# A call is never given less than this (a zero or negative timeout is an error in gRPC).
_SHORTEST_S = 0.001


def call_timeout(context: Context | None, limit_s: float | None = None) -> float | None:
    """The timeout of a call made while serving `context`: what is left of the caller's
    deadline (less REPLY_MARGIN_S), capped by `limit_s`; None when neither bounds it."""
    remaining = context.time_remaining() if context is not None else None
    bounds = [limit_s] if limit_s is not None else []
    if remaining is not None:
        bounds.append(remaining - REPLY_MARGIN_S)
    return max(min(bounds), _SHORTEST_S) if bounds else None
