"""Checks on incoming requests; each failure is InvalidArgument naming the offending field."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw_common import catalog
from aigw_common.errors import InvalidArgument
from aigw_common.server_limits import check_server_options

MAX_MODELS_PER_FEATURE = 8
MAX_API_KEY_CHARS = 4096
MAX_IDENTIFIER_CHARS = 255
MAX_ENDPOINT_CHARS = 2048

MAX_RETRIES = 10

_NAME = re.compile(r"[A-Za-z0-9._-]{1,63}")
_ENV_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_OPTIONS_BY_PLATFORM = {
    common_pb2.PLATFORM_AZURE_OPENAI: "azure",
    common_pb2.PLATFORM_BEDROCK: "bedrock",
}
_NANOS_PER_SECOND = 1_000_000_000
_Request = TypeVar("_Request")


def _invalid(field: str, problem: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {problem}", field=field)


def check_model_name(name: str, *, field: str) -> None:
    """A model name is 1 to 63 letters, digits, `.`, `_` or `-`."""
    if not _NAME.fullmatch(name):
        raise _invalid(field, "must be 1 to 63 characters of letters, digits, '.', '_' and '-'")


def check_create_model(request: config_service_pb2.CreateModelRequest) -> None:
    """Everything CreateModel needs from its request, or the first thing wrong with it."""
    model = request.model
    target = model.target
    check_model_name(model.name, field="model.name")
    catalog.check_family(model.family, field="model.family")
    # target.name/family mirror the model's; a different value is a mistake worth reporting.
    if target.name and target.name != model.name:
        raise _invalid("model.target.name", "must be empty or equal to model.name")
    if target.family and target.family != model.family:
        raise _invalid("model.target.family", "must be empty or equal to model.family")
    if target.platform not in common_pb2.Platform.values() or (
        target.platform == common_pb2.PLATFORM_UNSPECIFIED
    ):
        raise _invalid("model.target.platform", "must be set to a known platform")
    # Bedrock needs no endpoint (AWS's own, or AWS_BEDROCK_RUNTIME_ENDPOINT for the proxy).
    if target.endpoint or target.platform != common_pb2.PLATFORM_BEDROCK:
        _check_endpoint(target.endpoint, field="model.target.endpoint")
    _check_platform_options(target)
    check_server_options(target, "model.target")
    identifier = target.identifier
    if not 1 <= len(identifier) <= MAX_IDENTIFIER_CHARS or not identifier.isprintable():
        raise _invalid(
            "model.target.identifier",
            f"must be 1 to {MAX_IDENTIFIER_CHARS} printable characters",
        )
    _check_limits(target.limits)
    if model.api_key_env and not _ENV_VAR.fullmatch(model.api_key_env):
        raise _invalid("model.api_key_env", "must be an environment variable name, e.g. VLLM_KEY")
    if target.platform == common_pb2.PLATFORM_BEDROCK and request.api_key:
        raise _invalid(
            "api_key",
            "must be empty for Bedrock: the model proxy uses the AWS credential chain "
            "(environment, profile, instance or task role)",
        )
    # Never echo the key itself, not even in part.
    if len(request.api_key) > MAX_API_KEY_CHARS:
        raise _invalid("api_key", f"must be at most {MAX_API_KEY_CHARS} characters")
    if not request.api_key.isprintable():
        raise _invalid("api_key", "must contain printable characters only")


def _check_endpoint(url: str, *, field: str) -> None:
    problem = "must be an absolute http(s) URL, e.g. http://vllm:8000/v1"
    if not url or len(url) > MAX_ENDPOINT_CHARS or not url.isprintable() or " " in url:
        raise _invalid(field, problem)
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise _invalid(field, problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid(field, problem)
    # Credentials in a URL would be stored and returned in the clear; they belong in api_key.
    if parts.username is not None or parts.password is not None:
        raise _invalid(field, "must not contain credentials; pass the key as api_key")


def _check_platform_options(target: common_pb2.ModelTarget) -> None:
    options = target.WhichOneof("platform_options")
    wanted = _OPTIONS_BY_PLATFORM.get(target.platform)
    if options is not None and options != wanted:
        platform = common_pb2.Platform.Name(target.platform)
        raise _invalid(f"model.target.{options}", f"does not apply to platform {platform}")
    if options == "azure":
        azure = target.azure
        if azure.api_version and not _API_VERSION.fullmatch(azure.api_version):
            raise _invalid(
                "model.target.azure.api_version", "must look like 2024-10-21 or 2025-04-01-preview"
            )
        if azure.api not in common_pb2.AzureApi.values():
            raise _invalid("model.target.azure.api", "has an unknown value")
        if azure.auth not in common_pb2.AzureAuth.values():
            raise _invalid("model.target.azure.auth", "has an unknown value")
    if (
        options == "bedrock"
        and target.bedrock.region
        and not _REGION.fullmatch(target.bedrock.region)
    ):
        raise _invalid("model.target.bedrock.region", "must be an AWS region, e.g. us-east-1")


def _check_limits(limits: common_pb2.ModelLimits) -> None:
    for name in ("timeout", "connect_timeout", "first_token_timeout", "idle_timeout"):
        if limits.HasField(name):
            duration = getattr(limits, name)
            if (
                duration.seconds < 0
                or not 0 <= duration.nanos < _NANOS_PER_SECOND
                or (duration.seconds == 0 and duration.nanos == 0)
            ):
                raise _invalid(f"model.target.limits.{name}", "must be positive when set")
    if limits.HasField("max_retries") and not 0 <= limits.max_retries <= MAX_RETRIES:
        raise _invalid("model.target.limits.max_retries", f"must be 0 to {MAX_RETRIES}")
    if limits.max_output_tokens < 0:
        raise _invalid("model.target.limits.max_output_tokens", "must not be negative")
    if limits.max_concurrent_requests < 0:
        raise _invalid("model.target.limits.max_concurrent_requests", "must not be negative")


def check_feature_setting(setting: config_service_pb2.FeatureSetting) -> None:
    """A known feature, and either disabled with no models or 1 to 8 distinct model names."""
    catalog.feature(setting.feature, field="feature_setting.feature")
    field = "feature_setting.models"
    models = list(setting.models)
    if setting.disabled:
        if models:
            raise _invalid(field, "must be empty when the feature is disabled")
        return
    if not 1 <= len(models) <= MAX_MODELS_PER_FEATURE:
        raise _invalid(
            field, f"must name 1 to {MAX_MODELS_PER_FEATURE} models, or set disabled instead"
        )
    for name in models:
        check_model_name(name, field=field)
    if len(set(models)) != len(models):
        raise _invalid(field, "must not name a model twice")


def check_known_version(version: int) -> None:
    if version < 0:
        raise _invalid("known_version", "must not be negative")


def check_expected_version(version: int) -> None:
    if version < 0:
        raise _invalid("expected_version", "must not be negative")


def check_apply_config(request: config_service_pb2.ApplyConfigRequest) -> None:
    """Every declared model and feature setting, each error naming its place in the request."""
    check_expected_version(request.expected_version)
    names: set[str] = set()
    for index, item in enumerate(request.models):
        where = f"models[{index}]"
        _within(
            where,
            check_create_model,
            config_service_pb2.CreateModelRequest(model=item.model, api_key=item.api_key),
        )
        if item.model.name in names:
            raise _invalid(f"{where}.model.name", f"{item.model.name!r} is declared twice")
        names.add(item.model.name)
    features: set[str] = set()
    for index, setting in enumerate(request.feature_settings):
        where = f"feature_settings[{index}]"
        _within(where, check_feature_setting, setting)
        if setting.feature in features:
            raise _invalid(f"{where}.feature", f"{setting.feature!r} is declared twice")
        features.add(setting.feature)


def _within(where: str, check: Callable[[_Request], None], request: _Request) -> None:
    try:
        check(request)
    except InvalidArgument as error:
        field = error.field or ""
        # check_feature_setting names fields from a SetFeatureSettingRequest.
        field = field.removeprefix("feature_setting.")
        raise InvalidArgument(
            f"{where}.{error.message.removeprefix('feature_setting.')}", field=f"{where}.{field}"
        ) from None
