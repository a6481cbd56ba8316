"""What GitLab's answers say about the model that served them."""

from __future__ import annotations

from aigw.common.v1 import common_pb2


def platform_name(platform: common_pb2.Platform.ValueType) -> str:
    """The platform's short name, e.g. `openai_compatible`; empty when unspecified.

    GitLab reports its LiteLLM engine name as `model.engine` (the exact string is unverified);
    clients only display it, so aigw names the platform that served the answer.
    """
    if platform == common_pb2.PLATFORM_UNSPECIFIED:
        return ""
    return common_pb2.Platform.Name(platform).removeprefix("PLATFORM_").lower()
