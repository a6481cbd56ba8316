"""The names users write for platforms and platform options, in flags and in config files."""

from __future__ import annotations

from aigw.common.v1 import common_pb2

PLATFORMS = {
    "openai_compatible": common_pb2.PLATFORM_OPENAI_COMPATIBLE,
    "azure_openai": common_pb2.PLATFORM_AZURE_OPENAI,
    "bedrock": common_pb2.PLATFORM_BEDROCK,
    "anthropic": common_pb2.PLATFORM_ANTHROPIC,
}
PLATFORM_NAMES = {value: name for name, value in PLATFORMS.items()}
AZURE_APIS = {"deployments": common_pb2.AZURE_API_DEPLOYMENTS, "v1": common_pb2.AZURE_API_V1}
AZURE_API_NAMES = {value: name for name, value in AZURE_APIS.items()}
AZURE_AUTHS = {
    "api-key": common_pb2.AZURE_AUTH_API_KEY,
    "entra": common_pb2.AZURE_AUTH_ENTRA_BEARER,
}
AZURE_AUTH_NAMES = {value: name for name, value in AZURE_AUTHS.items()}
COMPLETION_APIS = {
    "completions": common_pb2.COMPLETION_API_COMPLETIONS,
    "chat": common_pb2.COMPLETION_API_CHAT,
}
COMPLETION_API_NAMES = {value: name for name, value in COMPLETION_APIS.items()}
