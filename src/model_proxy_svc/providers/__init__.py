"""Provider adapters, one module per platform, looked up by the proto's Platform value."""

from __future__ import annotations

from aigw.common.v1 import common_pb2
from aigw_common.errors import FailedPrecondition
from model_proxy_svc.bedrock_clients import BedrockClients
from model_proxy_svc.clients import HttpClients
from model_proxy_svc.providers.anthropic import AnthropicProvider
from model_proxy_svc.providers.azure_openai import AzureOpenAIProvider
from model_proxy_svc.providers.base import Provider
from model_proxy_svc.providers.bedrock import BedrockProvider
from model_proxy_svc.providers.openai_compatible import OpenAICompatibleProvider


class Providers:
    """The adapter for each supported platform."""

    def __init__(self, clients: HttpClients, bedrock: BedrockClients) -> None:
        self._by_platform: dict[int, Provider] = {
            common_pb2.PLATFORM_OPENAI_COMPATIBLE: OpenAICompatibleProvider(clients),
            common_pb2.PLATFORM_AZURE_OPENAI: AzureOpenAIProvider(clients),
            common_pb2.PLATFORM_BEDROCK: BedrockProvider(bedrock),
            common_pb2.PLATFORM_ANTHROPIC: AnthropicProvider(clients),
        }

    def get(self, platform: common_pb2.Platform.ValueType, *, field: str) -> Provider:
        """The adapter for `platform`, or FailedPrecondition if it has none."""
        provider = self._by_platform.get(platform)
        if provider is None:
            name = common_pb2.Platform.Name(platform)
            raise FailedPrecondition(
                f"{field}: platform {name} is not supported", metadata={"platform": name}
            )
        return provider
