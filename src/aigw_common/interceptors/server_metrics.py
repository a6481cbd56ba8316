"""Server side: count every RPC by service, method and final status code, and time it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aigw_common import metrics
from aigw_common.interceptors.lifecycle import Call, Observation, Observer

if TYPE_CHECKING:
    import grpc

    from aigw_common.grpc_types import Context


class ServerMetrics(Observer):
    """The first plug of every server: it sees the status every other one (auth, error
    mapping) decided."""

    def begin(self, call: Call, request: Any, context: Context) -> Observation:
        return _Timing(call.service, call.name)


class _Timing(Observation):
    __slots__ = ("_labels", "_started")

    def __init__(self, service: str, name: str) -> None:
        self._labels = (service, name)
        self._started = time.perf_counter()
        metrics.GRPC_IN_FLIGHT.labels(service, name).inc()

    def end(self, code: grpc.StatusCode, error: BaseException | None) -> None:
        labels = self._labels
        metrics.GRPC_HANDLED.labels(*labels, code.name).inc()
        metrics.GRPC_HANDLING.labels(*labels).observe(time.perf_counter() - self._started)
        metrics.GRPC_IN_FLIGHT.labels(*labels).dec()
