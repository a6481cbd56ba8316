"""Models described in the request itself (GitLab's self-hosted model coordinates).

The REST shim refuses them unless AIGW_CUSTOM_MODELS__ENABLED=true; the router checks the same
setting again, so a gRPC caller cannot get around it. The caller's API key lives only in this
request's ModelTarget (`request_api_key`) and is never stored or logged.
"""

from __future__ import annotations

import httpx

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.catalog import check_family
from aigw_common.errors import FailedPrecondition, InvalidArgument

_FIELD = "completion.custom_model"
MAX_IDENTIFIER_CHARS = 1000
MAX_ENDPOINT_CHARS = 2048
MAX_API_KEY_CHARS = 2000

CUSTOM_MODELS_DISABLED = (
    f"{_FIELD}: models described in the request are refused; the operator must set "
    "AIGW_CUSTOM_MODELS__ENABLED=true to allow them"
)


def custom_model(
    custom: router_service_pb2.CustomModel, *, enabled: bool
) -> config_service_pb2.Model:
    """The request's own model as a one-off Model definition, after checking it."""
    if not enabled:
        raise FailedPrecondition(CUSTOM_MODELS_DISABLED, reason="CUSTOM_MODELS_DISABLED")
    check_family(custom.family, field=f"{_FIELD}.family")
    if custom.platform not in common_pb2.Platform.values() or (
        custom.platform == common_pb2.PLATFORM_UNSPECIFIED
    ):
        raise InvalidArgument(f"{_FIELD}.platform must be set", field=f"{_FIELD}.platform")
    identifier = custom.identifier.strip()
    if not identifier or len(identifier) > MAX_IDENTIFIER_CHARS:
        raise InvalidArgument(
            f"{_FIELD}.identifier must be 1 to {MAX_IDENTIFIER_CHARS} characters",
            field=f"{_FIELD}.identifier",
        )
    # Bedrock is reached through the AWS endpoint of the proxy's region, as in GitLab.
    if custom.platform != common_pb2.PLATFORM_BEDROCK:
        _check_endpoint(custom.endpoint)
    if len(custom.api_key) > MAX_API_KEY_CHARS:
        raise InvalidArgument(
            f"{_FIELD}.api_key is longer than {MAX_API_KEY_CHARS} characters",
            field=f"{_FIELD}.api_key",
        )
    target = common_pb2.ModelTarget(
        name=identifier,
        family=custom.family,
        platform=custom.platform,
        endpoint=custom.endpoint,
        identifier=identifier,
        request_api_key=custom.api_key,
    )
    return config_service_pb2.Model(name=identifier, family=custom.family, target=target)


def _check_endpoint(endpoint: str) -> None:
    field = f"{_FIELD}.endpoint"
    problem = None
    if not endpoint:
        problem = "is required, e.g. http://vllm:8000/v1"
    elif len(endpoint) > MAX_ENDPOINT_CHARS:
        problem = f"is longer than {MAX_ENDPOINT_CHARS} characters"
    else:
        try:
            url = httpx.URL(endpoint)
        except httpx.InvalidURL:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            problem = "must be an http:// or https:// URL with a host"
    if problem is not None:
        raise InvalidArgument(f"{field} {problem}", field=field)
