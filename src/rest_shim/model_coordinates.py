"""Model coordinates sent in a request (GitLab's self-hosted mode) and the router's CustomModel.

GitLab Rails sends, with every request, the self-hosted model that serves the feature: its
family (`model_name` / `model` / `model_metadata.name`), endpoint, API key and a LiteLLM
identifier such as `custom_openai/<served name>`, `bedrock/<model id>` or `azure/<deployment>`.
They are used only with AIGW_CUSTOM_MODELS__ENABLED=true, and are refused otherwise with the
message GitLab's gateway gives (the router checks the setting again). A family alone (no
endpoint, key or identifier) is not a model: the feature's configured model answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aigw.common.v1 import common_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.errors import InvalidArgument
from aigw_common.request_rules import check_endpoint
from aigw_common.settings import CustomModelsSettings

# GitLab's ValueError text (ai_gateway/models/base.py, validate_custom_endpoint). GitLab's
# prompt route answers it with 400; its other routes let it escape as a 500, which we do not
# copy: every route answers 400 {"detail": ...} with these words.
ENDPOINT_DISABLED = "specifying custom models endpoint is disabled: api_base is not allowed"
API_KEY_DISABLED = "specifying custom models endpoint is disabled: api_key is not allowed"
IDENTIFIER_DISABLED = (
    "specifying custom models endpoint is disabled: model_identifier is not allowed"
)

# LiteLLM provider prefixes (the part of the identifier before "/") and how aigw reaches them.
_PLATFORMS = {
    "custom_openai": common_pb2.PLATFORM_OPENAI_COMPATIBLE,
    "openai": common_pb2.PLATFORM_OPENAI_COMPATIBLE,
    "hosted_vllm": common_pb2.PLATFORM_OPENAI_COMPATIBLE,
    "text-completion-openai": common_pb2.PLATFORM_OPENAI_COMPATIBLE,
    "text-completion-custom_openai": common_pb2.PLATFORM_OPENAI_COMPATIBLE,
    "azure": common_pb2.PLATFORM_AZURE_OPENAI,
    "bedrock": common_pb2.PLATFORM_BEDROCK,
    "anthropic": common_pb2.PLATFORM_ANTHROPIC,
}


@dataclass(frozen=True)
class FieldNames:
    """How a route names the coordinate fields, for error messages."""

    family: str
    endpoint: str
    api_key: str
    identifier: str


@dataclass(frozen=True)
class ModelCoordinates:
    family: str | None
    endpoint: str | None
    api_key: str | None = field(repr=False)
    identifier: str | None
    names: FieldNames

    @property
    def present(self) -> bool:
        """Whether the request names its own model server."""
        return bool(self.endpoint or self.api_key or self.identifier)


def custom_model(
    coordinates: ModelCoordinates, settings: CustomModelsSettings
) -> router_service_pb2.CustomModel | None:
    """The router's CustomModel for the request's coordinates; None when it has none."""
    if not coordinates.present:
        return None
    names = coordinates.names
    if not settings.enabled:
        if coordinates.endpoint:
            raise InvalidArgument(ENDPOINT_DISABLED, field=names.endpoint)
        if coordinates.api_key:
            raise InvalidArgument(API_KEY_DISABLED, field=names.api_key)
        raise InvalidArgument(IDENTIFIER_DISABLED, field=names.identifier)
    if not coordinates.family:
        raise InvalidArgument(
            f"{names.family}: the model family (e.g. codestral, mistral, gpt) is required "
            f"with {names.endpoint} / {names.identifier}",
            field=names.family,
        )
    platform, identifier = _parse_identifier(coordinates, names)
    endpoint = (coordinates.endpoint or "").rstrip("/")
    if platform == common_pb2.PLATFORM_BEDROCK:
        # LiteLLM (hence GitLab) drops api_base for Bedrock: the AWS endpoint is used.
        endpoint = ""
    elif not endpoint:
        raise InvalidArgument(
            f"{names.endpoint}: required for {names.identifier} {coordinates.identifier!r} "
            "(the model server's base URL, e.g. http://vllm:8000/v1)",
            field=names.endpoint,
        )
    else:
        # The router checks it again; here the error names the caller's own field.
        check_endpoint(endpoint, names.endpoint)
    return router_service_pb2.CustomModel(
        family=coordinates.family,
        platform=platform,
        endpoint=endpoint,
        identifier=identifier,
        api_key=coordinates.api_key or "",
    )


def _parse_identifier(
    coordinates: ModelCoordinates, names: FieldNames
) -> tuple[common_pb2.Platform.ValueType, str]:
    identifier = coordinates.identifier or ""
    if not identifier:
        # As GitLab: without an identifier the family name is the served model name.
        return common_pb2.PLATFORM_OPENAI_COMPATIBLE, coordinates.family or ""
    provider, slash, model = identifier.partition("/")
    if not slash:
        return common_pb2.PLATFORM_OPENAI_COMPATIBLE, identifier
    platform = _PLATFORMS.get(provider)
    if platform is None or not model:
        known = ", ".join(f"{prefix}/..." for prefix in sorted(_PLATFORMS))
        raise InvalidArgument(
            f"{names.identifier}: {identifier!r} names no provider aigw can reach; "
            f"use one of {known}, or a served model name without a prefix",
            field=names.identifier,
        )
    return platform, model
