"""Models described in the request itself (GitLab's self-hosted model coordinates).

The REST shim refuses them unless AIGW_CUSTOM_MODELS__ENABLED=true; the router checks the same
setting again, so a gRPC caller cannot get around it. The caller's API key lives only in this
request's ModelTarget (`request_api_key`) and is never stored or logged.
"""

from __future__ import annotations

from aigw.common.v1 import common_pb2
from aigw.config.v1 import config_service_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.catalog import check_family
from aigw_common.errors import FailedPrecondition
from aigw_common.request_rules import check_identifier, check_target, invalid

_FIELD = "completion.custom_model"
# GitLab's limit for the key a request carries.
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
    identifier = custom.identifier.strip()
    target = common_pb2.ModelTarget(
        name=identifier,
        family=custom.family,
        platform=custom.platform,
        endpoint=custom.endpoint,
        identifier=identifier,
        request_api_key=custom.api_key,
    )
    # The CustomModel's fields are named as a target's, so the paths in errors match the
    # request. Bedrock needs no endpoint (the AWS one of the proxy's region, as in GitLab).
    check_target(target, _FIELD)
    check_identifier(identifier, f"{_FIELD}.identifier")
    if len(custom.api_key) > MAX_API_KEY_CHARS:
        raise invalid(f"{_FIELD}.api_key", f"is longer than {MAX_API_KEY_CHARS} characters")
    return config_service_pb2.Model(name=identifier, family=custom.family, target=target)
