"""The names users write for platforms and platform options, in flags and in config files."""

from __future__ import annotations

from aigw.common.v1 import common_pb2
from aigw_common.platforms import PLATFORM_NAMES, PLATFORMS

__all__ = [
    "AZURE_APIS",
    "AZURE_API_NAMES",
    "AZURE_AUTHS",
    "AZURE_AUTH_NAMES",
    "PLATFORMS",
    "PLATFORM_NAMES",
]

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
