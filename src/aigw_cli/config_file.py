"""The declarative configuration file of `aigw config apply` / `aigw config export`.

    models:
      codestral:
        family: codestral
        platform: openai_compatible
        endpoint: http://vllm:8000/v1
        identifier: mistralai/Codestral-22B-v0.1
        api_key_env: VLLM_API_KEY       # optional; the key is read from this variable
        timeout_s: 30                   # optional limits: timeout_s, connect_timeout_s,
                                        # first_token_timeout_s, idle_timeout_s, max_retries,
                                        # max_output_tokens, max_concurrent_requests
        max_stop_sequences: 4           # optional server limits: stops it accepts,
        context_tokens: 32768           # the context it serves (0: as it reports),
        completion_api: completions     # the API serving prompts (or chat)
      claude:
        family: claude_3
        platform: bedrock               # endpoint optional: the AWS default or a VPC endpoint
        identifier: us.anthropic.claude-3-5-sonnet-20241022-v2:0
        bedrock: {region: us-east-1}
      gpt4o:
        family: gpt
        platform: azure_openai
        endpoint: https://my-resource.openai.azure.com
        identifier: gpt-4o              # the deployment name
        api_key_env: AZURE_OPENAI_API_KEY
        azure: {api_version: 2024-10-21, api: deployments, auth: api-key}
    features:
      code_completions: codestral       # one model, a list (first serves), or `disabled`
      duo_chat: [mixtral, mistral]

API keys appear only as references to environment variables, never in the file itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw_cli.model_vocabulary import (
    AZURE_API_NAMES,
    AZURE_APIS,
    AZURE_AUTH_NAMES,
    AZURE_AUTHS,
    COMPLETION_API_NAMES,
    COMPLETION_APIS,
    PLATFORM_NAMES,
    PLATFORMS,
)

DISABLED = "disabled"
_DURATIONS = ("timeout", "connect_timeout", "first_token_timeout", "idle_timeout")


class ConfigFileError(ValueError):
    """The file cannot be used; the message names the place in it."""


class _AzureEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_version: str = ""
    api: Literal["deployments", "v1"] | None = None
    auth: Literal["api-key", "entra"] | None = None

    @field_validator("api_version", mode="before")
    @classmethod
    def _date_as_text(cls, value: Any) -> Any:
        # YAML reads an unquoted 2024-10-21 as a date; it is Azure's version string.
        return value.isoformat() if isinstance(value, date) else value


class _BedrockEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: str = ""


class _ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    family: str
    platform: Literal["openai_compatible", "azure_openai", "bedrock", "anthropic"]
    endpoint: str = ""
    identifier: str
    api_key_env: str | None = None
    timeout_s: float | None = Field(default=None, gt=0)
    connect_timeout_s: float | None = Field(default=None, gt=0)
    first_token_timeout_s: float | None = Field(default=None, gt=0)
    idle_timeout_s: float | None = Field(default=None, gt=0)
    max_retries: int | None = Field(default=None, ge=0)
    max_output_tokens: int = Field(default=0, ge=0)
    max_concurrent_requests: int = Field(default=0, ge=0)
    max_stop_sequences: int = Field(default=0, ge=0)
    context_tokens: int = Field(default=0, ge=0)
    completion_api: Literal["completions", "chat"] | None = None
    azure: _AzureEntry | None = None
    bedrock: _BedrockEntry | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: dict[str, _ModelEntry] = {}
    features: dict[str, str | list[str]] = {}

    @field_validator("models", mode="before")
    @classmethod
    def _no_plain_keys(cls, models: Any) -> Any:
        if isinstance(models, Mapping):
            for name, entry in models.items():
                if isinstance(entry, Mapping) and "api_key" in entry:
                    raise ValueError(
                        f"{name}.api_key: API keys are never written in the file; "
                        "name the environment variable that holds it with api_key_env"
                    )
        return models


def load(
    text: str, environ: Mapping[str, str] | None = None
) -> config_service_pb2.ApplyConfigRequest:
    """The ApplyConfig request the file describes, API keys read from the environment."""
    environ = os.environ if environ is None else environ
    try:
        data = yaml.safe_load(text) or {}
        parsed = _File.model_validate(data)
    except yaml.YAMLError as error:
        raise ConfigFileError(f"not valid YAML: {error}") from None
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ConfigFileError(problems) from None
    request = config_service_pb2.ApplyConfigRequest()
    for name, entry in parsed.models.items():
        api_key = ""
        if entry.api_key_env:
            try:
                api_key = environ[entry.api_key_env]
            except KeyError:
                raise ConfigFileError(
                    f"models.{name}.api_key_env: environment variable {entry.api_key_env} "
                    "is not set"
                ) from None
        request.models.append(
            config_service_pb2.DeclaredModel(model=_model(name, entry), api_key=api_key)
        )
    for feature, value in parsed.features.items():
        setting = config_service_pb2.FeatureSetting(feature=feature)
        if value == DISABLED:
            setting.disabled = True
        else:
            setting.models.extend([value] if isinstance(value, str) else value)
        request.feature_settings.append(setting)
    return request


def dump(snapshot: config_service_pb2.ConfigSnapshot) -> str:
    """The file that describes `snapshot` (API keys by reference only)."""
    models: dict[str, Any] = {}
    unreferenced = []
    for model in snapshot.models:
        target = model.target
        entry: dict[str, Any] = {
            "family": model.family,
            "platform": PLATFORM_NAMES.get(target.platform, "openai_compatible"),
            "endpoint": target.endpoint,
            "identifier": target.identifier,
        }
        if not target.endpoint:
            del entry["endpoint"]
        if model.api_key_env:
            entry["api_key_env"] = model.api_key_env
        elif target.sealed_api_key:
            unreferenced.append(model.name)
        limits = target.limits
        for name in _DURATIONS:
            if limits.HasField(name):  # type: ignore[arg-type]
                seconds = getattr(limits, name).ToTimedelta().total_seconds()
                entry[f"{name}_s"] = seconds
        if limits.HasField("max_retries"):
            entry["max_retries"] = limits.max_retries
        if limits.max_output_tokens:
            entry["max_output_tokens"] = limits.max_output_tokens
        if limits.max_concurrent_requests:
            entry["max_concurrent_requests"] = limits.max_concurrent_requests
        if limits.max_stop_sequences:
            entry["max_stop_sequences"] = limits.max_stop_sequences
        if limits.context_tokens:
            entry["context_tokens"] = limits.context_tokens
        if target.completion_api in COMPLETION_API_NAMES:
            entry["completion_api"] = COMPLETION_API_NAMES[target.completion_api]
        if target.HasField("azure"):
            azure: dict[str, str] = {}
            if target.azure.api_version:
                azure["api_version"] = target.azure.api_version
            if target.azure.api in AZURE_API_NAMES:
                azure["api"] = AZURE_API_NAMES[target.azure.api]
            if target.azure.auth in AZURE_AUTH_NAMES:
                azure["auth"] = AZURE_AUTH_NAMES[target.azure.auth]
            entry["azure"] = azure
        if target.HasField("bedrock"):
            entry["bedrock"] = {"region": target.bedrock.region} if target.bedrock.region else {}
        models[model.name] = entry
    features: dict[str, Any] = {}
    for setting in snapshot.feature_settings:
        if setting.disabled:
            features[setting.feature] = DISABLED
        elif len(setting.models) == 1:
            features[setting.feature] = setting.models[0]
        else:
            features[setting.feature] = list(setting.models)
    header = [f"# aigw configuration, exported at version {snapshot.version}."]
    for name in unreferenced:
        header.append(
            f"# models.{name} has an API key that was not given by reference: add api_key_env "
            "before applying this file, or the key is removed."
        )
    body = yaml.safe_dump(
        {"models": models, "features": features}, sort_keys=False, allow_unicode=True
    )
    return "\n".join(header) + "\n" + body


def _model(name: str, entry: _ModelEntry) -> config_service_pb2.Model:
    limits = common_pb2.ModelLimits(
        max_output_tokens=entry.max_output_tokens,
        max_concurrent_requests=entry.max_concurrent_requests,
        max_stop_sequences=entry.max_stop_sequences,
        context_tokens=entry.context_tokens,
    )
    for duration in _DURATIONS:
        seconds = getattr(entry, f"{duration}_s")
        if seconds is not None:
            getattr(limits, duration).FromTimedelta(timedelta(seconds=seconds))
    if entry.max_retries is not None:
        limits.max_retries = entry.max_retries
    target = common_pb2.ModelTarget(
        platform=PLATFORMS[entry.platform],
        endpoint=entry.endpoint,
        identifier=entry.identifier,
        limits=limits,
        completion_api=COMPLETION_APIS.get(
            entry.completion_api or "", common_pb2.COMPLETION_API_UNSPECIFIED
        ),
    )
    if entry.azure is not None:
        target.azure.CopyFrom(
            common_pb2.AzureOptions(
                api_version=entry.azure.api_version,
                api=AZURE_APIS.get(entry.azure.api or "", common_pb2.AZURE_API_UNSPECIFIED),
                auth=AZURE_AUTHS.get(entry.azure.auth or "", common_pb2.AZURE_AUTH_UNSPECIFIED),
            )
        )
    if entry.bedrock is not None:
        target.bedrock.region = entry.bedrock.region
    return config_service_pb2.Model(
        name=name, family=entry.family, api_key_env=entry.api_key_env or "", target=target
    )
