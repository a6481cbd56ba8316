"""The rules for a model target and its sampling parameters, shared by every service that
accepts them: config_svc (stored models), router_svc (models described in a request) and
model_proxy_svc (every generation). A value one service accepts is accepted by all of them.

Each refusal is InvalidArgument whose message starts with the field's path in the caller's
request (`field` below), e.g. `model.target.endpoint must ...`; none echoes a secret.
"""

from __future__ import annotations

import re
from typing import Literal

import httpx

from aigw.common.v1 import common_pb2
from aigw_common.errors import InvalidArgument

MAX_ENDPOINT_CHARS = 2048
# GitLab's limit for the model identifier a request names (config_svc stores shorter ones).
MAX_IDENTIFIER_CHARS = 1000
MAX_STOP_SEQUENCES = 16
MAX_TEMPERATURE = 2.0
MAX_RETRIES = 10
# The largest server limits a model may be configured with: far above any real server, far
# below int32.
MAX_CONTEXT_TOKENS = 16_777_216
MAX_STOP_SEQUENCES_LIMIT = 256

_OPTIONS_BY_PLATFORM = {
    common_pb2.PLATFORM_AZURE_OPENAI: "azure",
    common_pb2.PLATFORM_BEDROCK: "bedrock",
}
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_DURATIONS: tuple[
    Literal["timeout", "connect_timeout", "first_token_timeout", "idle_timeout"], ...
] = (
    "timeout",
    "connect_timeout",
    "first_token_timeout",
    "idle_timeout",
)
_NANOS_PER_SECOND = 1_000_000_000


def invalid(field: str, problem: str) -> InvalidArgument:
    """The refusal of `field`, worded `<field> <problem>`."""
    return InvalidArgument(f"{field} {problem}", field=field)


def check_target(target: common_pb2.ModelTarget, field: str) -> None:
    """Platform, endpoint, platform options and limits (the identifier, which not every request
    needs, is checked with `check_identifier`)."""
    check_platform(target.platform, f"{field}.platform")
    # Bedrock's endpoint is optional: AWS's own, unless a private (VPC) endpoint is given.
    if target.endpoint or target.platform != common_pb2.PLATFORM_BEDROCK:
        check_endpoint(target.endpoint, f"{field}.endpoint")
    _check_platform_options(target, field)
    _check_limits(target.limits, f"{field}.limits")
    _check_completion_api(target, f"{field}.completion_api")


def check_platform(platform: int, field: str) -> None:
    if platform == common_pb2.PLATFORM_UNSPECIFIED:
        raise invalid(field, "must be set, e.g. PLATFORM_OPENAI_COMPATIBLE")
    if platform not in common_pb2.Platform.values():
        raise invalid(field, f"has unknown value {platform}")


def check_endpoint(endpoint: str, field: str) -> None:
    """An absolute http(s) URL with a host and no credentials, at most MAX_ENDPOINT_CHARS."""
    if not endpoint:
        raise invalid(field, "must be set, e.g. http://vllm:8000/v1")
    if len(endpoint) > MAX_ENDPOINT_CHARS:
        raise invalid(field, f"is longer than {MAX_ENDPOINT_CHARS} characters")
    if not endpoint.isprintable() or any(c.isspace() for c in endpoint):
        raise invalid(field, "must not contain whitespace or control characters")
    try:
        url = httpx.URL(endpoint)
    except httpx.InvalidURL:
        raise invalid(field, "is not a valid URL, e.g. http://vllm:8000/v1") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise invalid(field, "must be an http:// or https:// URL with a host")
    if url.port is not None and not 0 < url.port < 65536:
        raise invalid(field, f"has port {url.port}; a port is 1 to 65535")
    # Credentials in a URL would be stored, logged and shown in the clear; they belong in the
    # model's API key.
    if url.userinfo:
        raise invalid(field, "must not contain credentials; pass the key as the API key")


def check_identifier(identifier: str, field: str, *, max_chars: int = MAX_IDENTIFIER_CHARS) -> None:
    """The provider's model name: 1 to `max_chars` printable characters, not only blanks."""
    if not identifier.strip() or len(identifier) > max_chars or not identifier.isprintable():
        raise invalid(field, f"must be 1 to {max_chars} printable characters")


def check_parameters(
    parameters: common_pb2.GenerationParameters,
    field: str,
    *,
    max_output_tokens: int = 0,
    max_stop_sequences: int = MAX_STOP_SEQUENCES,
    context_tokens: int = 0,
    model: str = "",
) -> None:
    """Sampling parameters in range, and within what `model`'s server accepts:
    `max_output_tokens` (0: none) is the model's own limit, `max_stop_sequences` the stops its
    server takes, `context_tokens` (0: unknown) the context it serves."""
    if parameters.HasField("max_tokens"):
        if parameters.max_tokens <= 0:
            raise invalid(f"{field}.max_tokens", f"must be positive, got {parameters.max_tokens}")
        if 0 < max_output_tokens < parameters.max_tokens:
            raise invalid(
                f"{field}.max_tokens",
                f"is {parameters.max_tokens}, above the model's limit of "
                f"{max_output_tokens} (limits.max_output_tokens)",
            )
        if 0 < context_tokens <= parameters.max_tokens:
            # The server counts the prompt too: an answer this long cannot fit whatever the
            # prompt, and would only be refused there.
            raise invalid(
                f"{field}.max_tokens",
                f"is {parameters.max_tokens}, but model {model!r} serves a context of "
                f"{context_tokens} tokens for prompt and answer together; ask for fewer than "
                f"{context_tokens} tokens",
            )
    if parameters.HasField("temperature") and not 0 <= parameters.temperature <= MAX_TEMPERATURE:
        raise invalid(
            f"{field}.temperature",
            f"must be between 0 and {MAX_TEMPERATURE:g}, got {parameters.temperature:g}",
        )
    if parameters.HasField("top_p") and not 0 < parameters.top_p <= 1:
        raise invalid(f"{field}.top_p", f"must be above 0 and at most 1, got {parameters.top_p:g}")
    if len(parameters.stop_sequences) > max_stop_sequences:
        limit = f"model {model!r} accepts at most" if model else "at most"
        raise invalid(
            f"{field}.stop_sequences",
            f"holds {len(parameters.stop_sequences)} entries; {limit} {max_stop_sequences}",
        )
    for index, stop in enumerate(parameters.stop_sequences):
        if not stop:
            raise invalid(f"{field}.stop_sequences[{index}]", "must not be empty")
    for index, token_id in enumerate(parameters.stop_token_ids):
        if token_id < 0:
            raise invalid(f"{field}.stop_token_ids[{index}]", "must not be negative")


def _check_platform_options(target: common_pb2.ModelTarget, field: str) -> None:
    options = target.WhichOneof("platform_options")
    wanted = _OPTIONS_BY_PLATFORM.get(target.platform)
    if options is not None and options != wanted:
        platform = common_pb2.Platform.Name(target.platform)
        raise invalid(f"{field}.{options}", f"does not apply to platform {platform}")
    if options == "azure":
        azure = target.azure
        if azure.api_version and not _API_VERSION.fullmatch(azure.api_version):
            raise invalid(
                f"{field}.azure.api_version", "must look like 2024-10-21 or 2025-04-01-preview"
            )
        if azure.api not in common_pb2.AzureApi.values():
            raise invalid(f"{field}.azure.api", "has an unknown value")
        if azure.auth not in common_pb2.AzureAuth.values():
            raise invalid(f"{field}.azure.auth", "has an unknown value")
    region = target.bedrock.region
    if options == "bedrock" and region and not _REGION.fullmatch(region):
        raise invalid(f"{field}.bedrock.region", "must be an AWS region, e.g. us-east-1")


def _check_limits(limits: common_pb2.ModelLimits, field: str) -> None:
    for name in _DURATIONS:
        if limits.HasField(name):
            duration = getattr(limits, name)
            if (
                duration.seconds < 0
                or not 0 <= duration.nanos < _NANOS_PER_SECOND
                or (duration.seconds == 0 and duration.nanos == 0)
            ):
                raise invalid(f"{field}.{name}", "must be positive when set")
    if limits.HasField("max_retries") and not 0 <= limits.max_retries <= MAX_RETRIES:
        raise invalid(f"{field}.max_retries", f"must be 0 to {MAX_RETRIES}")
    if limits.max_output_tokens < 0:
        raise invalid(f"{field}.max_output_tokens", "must not be negative")
    if limits.max_concurrent_requests < 0:
        raise invalid(f"{field}.max_concurrent_requests", "must not be negative")
    if not 0 <= limits.max_stop_sequences <= MAX_STOP_SEQUENCES_LIMIT:
        raise invalid(f"{field}.max_stop_sequences", f"must be 0 to {MAX_STOP_SEQUENCES_LIMIT}")
    if not 0 <= limits.context_tokens <= MAX_CONTEXT_TOKENS:
        raise invalid(f"{field}.context_tokens", f"must be 0 to {MAX_CONTEXT_TOKENS}")


def _check_completion_api(target: common_pb2.ModelTarget, field: str) -> None:
    if target.completion_api not in common_pb2.CompletionApi.values():
        raise invalid(field, f"has unknown value {target.completion_api}")
    if (
        target.completion_api == common_pb2.COMPLETION_API_CHAT
        and target.platform != common_pb2.PLATFORM_OPENAI_COMPATIBLE
    ):
        raise invalid(
            field,
            "COMPLETION_API_CHAT applies to PLATFORM_OPENAI_COMPATIBLE only (other platforms "
            "always send chat)",
        )
