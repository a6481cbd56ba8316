"""Which configured models a caller may address by name (the OpenAI-compatible API).

A model is addressable when it serves at least one enabled feature whose scope the caller
holds, so naming a model never grants more than the caller's features already do. A model the
caller may not use gets the same NOT_FOUND as one that does not exist: the answer does not
reveal what is configured.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from aigw.config.v1 import config_service_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common import catalog
from aigw_common.errors import InvalidArgument, NotFound
from aigw_common.token_verifier import Principal

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_PAGE_KEY_PREFIX = "models:"

Models = Mapping[str, config_service_pb2.Model]
FeatureSettings = Mapping[str, config_service_pb2.FeatureSetting]


def usable_features(name: str, settings: FeatureSettings, principal: Principal) -> list[str]:
    """The enabled features served by model `name` that `principal` may use, by name."""
    usable = []
    for feature_name, setting in sorted(settings.items()):
        feature = catalog.FEATURES.get(feature_name)
        if feature is None or setting.disabled or name not in setting.models:
            continue
        if feature.scope in principal.scopes:
            usable.append(feature_name)
    return usable


def addressable_model(
    name: str, models: Models, settings: FeatureSettings, principal: Principal
) -> config_service_pb2.Model:
    """The model called `name`, if `principal` may address it; NotFound otherwise."""
    model = models.get(name)
    if model is None or not usable_features(name, settings, principal):
        raise NotFound(
            f"completion.model: no model {name!r} that your token may use; "
            "ListModels shows the ones it may",
            field="completion.model",
            metadata={"model": name},
        )
    return model


def list_page(
    request: router_service_pb2.ListModelsRequest,
    models: Models,
    settings: FeatureSettings,
    principal: Principal,
) -> router_service_pb2.ListModelsResponse:
    """One page of the models `principal` may address, ordered by name."""
    size = _page_size(request.page_size)
    after = _decode_token(request.page_token)
    response = router_service_pb2.ListModelsResponse()
    for name in sorted(models):
        if name <= after:
            continue
        features = usable_features(name, settings, principal)
        if not features:
            continue
        if len(response.models) == size:
            response.next_page_token = _encode_token(response.models[-1].name)
            break
        response.models.add(name=name, family=models[name].family, features=features)
    return response


def _page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size must not be negative", field="page_size")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _encode_token(last_name: str) -> str:
    return base64.urlsafe_b64encode(f"{_PAGE_KEY_PREFIX}{last_name}".encode()).decode("ascii")


def _decode_token(token: str) -> str:
    if not token:
        return ""
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    if not text.startswith(_PAGE_KEY_PREFIX) or len(text) == len(_PAGE_KEY_PREFIX):
        raise InvalidArgument(
            "page_token is not a next_page_token from ListModels", field="page_token"
        )
    return text.removeprefix(_PAGE_KEY_PREFIX)
