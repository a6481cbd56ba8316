"""Checks on incoming requests; each failure is InvalidArgument naming the offending field."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw_common import catalog
from aigw_common.errors import InvalidArgument
from aigw_common.request_rules import check_identifier, check_target, invalid

MAX_MODELS_PER_FEATURE = 8
MAX_API_KEY_CHARS = 4096
# Stored identifiers are shorter than those a request may name (request_rules).
MAX_IDENTIFIER_CHARS = 255

_NAME = re.compile(r"[A-Za-z0-9._-]{1,63}")
_ENV_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_Request = TypeVar("_Request")


def check_model_name(name: str, *, field: str) -> None:
    """A model name is 1 to 63 letters, digits, `.`, `_` or `-`."""
    if not _NAME.fullmatch(name):
        raise invalid(field, "must be 1 to 63 characters of letters, digits, '.', '_' and '-'")


def check_create_model(request: config_service_pb2.CreateModelRequest) -> None:
    """Everything CreateModel needs from its request, or the first thing wrong with it."""
    model = request.model
    target = model.target
    check_model_name(model.name, field="model.name")
    catalog.check_family(model.family, field="model.family")
    # target.name/family mirror the model's; a different value is a mistake worth reporting.
    if target.name and target.name != model.name:
        raise invalid("model.target.name", "must be empty or equal to model.name")
    if target.family and target.family != model.family:
        raise invalid("model.target.family", "must be empty or equal to model.family")
    check_target(target, "model.target")
    check_identifier(target.identifier, "model.target.identifier", max_chars=MAX_IDENTIFIER_CHARS)
    if model.api_key_env and not _ENV_VAR.fullmatch(model.api_key_env):
        raise invalid("model.api_key_env", "must be an environment variable name, e.g. VLLM_KEY")
    if target.platform == common_pb2.PLATFORM_BEDROCK and request.api_key:
        raise invalid(
            "api_key",
            "must be empty for Bedrock: the model proxy uses the AWS credential chain "
            "(environment, profile, instance or task role)",
        )
    # Never echo the key itself, not even in part.
    if len(request.api_key) > MAX_API_KEY_CHARS:
        raise invalid("api_key", f"must be at most {MAX_API_KEY_CHARS} characters")
    if not request.api_key.isprintable():
        raise invalid("api_key", "must contain printable characters only")


def check_feature_setting(setting: config_service_pb2.FeatureSetting) -> None:
    """A known feature, and either disabled with no models or 1 to 8 distinct model names."""
    catalog.feature(setting.feature, field="feature_setting.feature")
    field = "feature_setting.models"
    models = list(setting.models)
    if setting.disabled:
        if models:
            raise invalid(field, "must be empty when the feature is disabled")
        return
    if not 1 <= len(models) <= MAX_MODELS_PER_FEATURE:
        raise invalid(
            field, f"must name 1 to {MAX_MODELS_PER_FEATURE} models, or set disabled instead"
        )
    for name in models:
        check_model_name(name, field=field)
    if len(set(models)) != len(models):
        raise invalid(field, "must not name a model twice")


def check_known_version(version: int) -> None:
    if version < 0:
        raise invalid("known_version", "must not be negative")


def check_expected_version(version: int) -> None:
    if version < 0:
        raise invalid("expected_version", "must not be negative")


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
            raise invalid(f"{where}.model.name", f"{item.model.name!r} is declared twice")
        names.add(item.model.name)
    features: set[str] = set()
    for index, setting in enumerate(request.feature_settings):
        where = f"feature_settings[{index}]"
        _within(where, check_feature_setting, setting)
        if setting.feature in features:
            raise invalid(f"{where}.feature", f"{setting.feature!r} is declared twice")
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
