"""Validation of sampling parameters, shared by every service that accepts them."""

from __future__ import annotations

from aigw.common.v1 import common_pb2
from aigw_common.errors import InvalidArgument

MAX_STOP_SEQUENCES = 16


def check_parameters(parameters: common_pb2.GenerationParameters, field: str) -> None:
    """Raise InvalidArgument naming `field`.<name> for the first out-of-range parameter."""
    if parameters.HasField("max_tokens") and parameters.max_tokens <= 0:
        raise InvalidArgument(f"{field}.max_tokens must be positive", field=f"{field}.max_tokens")
    if parameters.HasField("temperature") and not 0 <= parameters.temperature <= 2:
        raise InvalidArgument(
            f"{field}.temperature must be between 0 and 2", field=f"{field}.temperature"
        )
    if parameters.HasField("top_p") and not 0 < parameters.top_p <= 1:
        raise InvalidArgument(
            f"{field}.top_p must be greater than 0 and at most 1", field=f"{field}.top_p"
        )
    if len(parameters.stop_sequences) > MAX_STOP_SEQUENCES:
        raise InvalidArgument(
            f"{field}.stop_sequences allows at most {MAX_STOP_SEQUENCES} entries",
            field=f"{field}.stop_sequences",
        )
