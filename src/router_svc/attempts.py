"""What every way of calling a feature's models shares: when to try the next model, and how the
model that answered is named to the caller."""

from __future__ import annotations

from aigw.config.v1 import config_service_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.errors import AigwError, ResourceExhausted, UpstreamError


def is_model_failure(error: AigwError) -> bool:
    """A failure of the model or its server (unreachable, failing, too slow to start, refusing
    the request as too long for its context, rate limited), which the next model may not have;
    the caller's own mistakes are refused before any model is called."""
    return isinstance(error, UpstreamError | ResourceExhausted)


def should_fall_back(error: AigwError, number: int, attempts: int) -> bool:
    """Whether attempt `number` (from 1) of `attempts` failing with `error` leaves the next
    model to try."""
    return is_model_failure(error) and number < attempts


def served_by(model: config_service_pb2.Model) -> router_service_pb2.ServedBy:
    return router_service_pb2.ServedBy(
        model=model.name, family=model.family, platform=model.target.platform
    )
