"""Provider adapters, one module per platform, looked up by the proto's Platform value."""

from __future__ import annotations

from aigw.common.v1 import common_pb2
from aigw_common.errors import FailedPrecondition
from model_proxy_svc.clients import HttpClients
from model_proxy_svc.providers.base import Provider
from model_proxy_svc.providers.openai_compatible import OpenAICompatibleProvider


class Providers:
    """The adapter for each supported platform."""

    def __init__(self, clients: HttpClients) -> None:
        self._by_platform: dict[int, Provider] = {
            common_pb2.PLATFORM_OPENAI_COMPATIBLE: OpenAICompatibleProvider(clients),
        }

    def get(self, platform: common_pb2.Platform.ValueType, *, field: str) -> Provider:
        """The adapter for `platform`, or FailedPrecondition if it has none yet."""
        provider = self._by_platform.get(platform)
        if provider is None:
            name = common_pb2.Platform.Name(platform)
            raise FailedPrecondition(
                f"{field}: platform {name} is not supported yet; use PLATFORM_OPENAI_COMPATIBLE",
                metadata={"platform": name},
            )
        return provider
