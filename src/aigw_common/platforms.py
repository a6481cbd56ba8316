"""The short names of model platforms (`openai_compatible`, `azure_openai`, `bedrock`,
`anthropic`), as users write them in config files and flags and as metrics, logs and GitLab's
`engine` fields show them: the proto enum's names without their `PLATFORM_` prefix."""

from __future__ import annotations

from collections.abc import Mapping

from aigw.common.v1 import common_pb2

PLATFORMS: Mapping[str, common_pb2.Platform.ValueType] = {
    name.removeprefix("PLATFORM_").lower(): value
    for name, value in common_pb2.Platform.items()
    if value != common_pb2.PLATFORM_UNSPECIFIED
}
PLATFORM_NAMES: Mapping[int, str] = {value: name for name, value in PLATFORMS.items()}


def platform_name(platform: int) -> str:
    """The short name of `platform`; empty when it is unspecified (or unknown)."""
    return PLATFORM_NAMES.get(platform, "")
