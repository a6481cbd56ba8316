"""The declarative configuration file of `aigw config apply` / `aigw config export`.

    models:
      codestral:
        family: codestral
        platform: openai_compatible
        endpoint: http://vllm:8000/v1
        identifier: mistralai/Codestral-22B-v0.1
        api_key_env: VLLM_API_KEY       # optional; the key is read from this variable
        timeout_s: 30                   # optional limits
    features:
      code_completions: codestral       # one model, a list (first serves), or `disabled`
      duo_chat: [mixtral, mistral]

API keys appear only as references to environment variables, never in the file itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2

DISABLED = "disabled"
PLATFORMS = {
    "openai_compatible": common_pb2.PLATFORM_OPENAI_COMPATIBLE,
    "azure_openai": common_pb2.PLATFORM_AZURE_OPENAI,
    "bedrock": common_pb2.PLATFORM_BEDROCK,
    "anthropic": common_pb2.PLATFORM_ANTHROPIC,
}
_PLATFORM_NAMES = {value: name for name, value in PLATFORMS.items()}


class ConfigFileError(ValueError):
    """The file cannot be used; the message names the place in it."""


class _ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    family: str
    platform: Literal["openai_compatible", "azure_openai", "bedrock", "anthropic"]
    endpoint: str
    identifier: str
    api_key_env: str | None = None
    timeout_s: float | None = Field(default=None, gt=0)
    max_output_tokens: int = Field(default=0, ge=0)
    max_concurrent_requests: int = Field(default=0, ge=0)


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
            "platform": _PLATFORM_NAMES.get(target.platform, "openai_compatible"),
            "endpoint": target.endpoint,
            "identifier": target.identifier,
        }
        if model.api_key_env:
            entry["api_key_env"] = model.api_key_env
        elif target.sealed_api_key:
            unreferenced.append(model.name)
        limits = target.limits
        if limits.HasField("timeout"):
            entry["timeout_s"] = limits.timeout.ToTimedelta().total_seconds()
        if limits.max_output_tokens:
            entry["max_output_tokens"] = limits.max_output_tokens
        if limits.max_concurrent_requests:
            entry["max_concurrent_requests"] = limits.max_concurrent_requests
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
    )
    if entry.timeout_s is not None:
        limits.timeout.FromTimedelta(timedelta(seconds=entry.timeout_s))
    return config_service_pb2.Model(
        name=name,
        family=entry.family,
        api_key_env=entry.api_key_env or "",
        target=common_pb2.ModelTarget(
            platform=PLATFORMS[entry.platform],
            endpoint=entry.endpoint,
            identifier=entry.identifier,
            limits=limits,
        ),
    )
