"""What every way of calling a feature's models shares: when to try the next model, and how the
model that answered is named to the caller."""

from __future__ import annotations

from aigw.config.v1 import config_service_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.errors import AigwError, UpstreamUnavailable


def should_fall_back(error: AigwError, number: int, attempts: int) -> bool:
    """Whether attempt `number` (from 1) of `attempts` failing with `error` leaves the next
    model to try: only an unreachable model does."""
    return isinstance(error, UpstreamUnavailable) and number < attempts


def served_by(model: config_service_pb2.Model) -> router_service_pb2.ServedBy:
    return router_service_pb2.ServedBy(
        model=model.name, family=model.family, platform=model.target.platform
    )
