"""Checks a Generation or ModelTarget message and turns it into the providers' request types.

Every refusal is InvalidArgument naming the offending field by its path in the request, e.g.
`generation.target.endpoint`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import httpx
from google.protobuf import duration_pb2

from aigw.common.v1 import common_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2 as pb
from aigw_common.errors import InvalidArgument
from aigw_common.server_limits import check_server_options, max_stop_sequences
from aigw_common.settings import ModelProxySettings
from model_proxy_svc.providers.base import (
    AzureTarget,
    ChatMessage,
    ChatRole,
    GenerationRequest,
    Upstream,
)

MAX_RETRIES = 10
_OPTIONS_BY_PLATFORM = {
    common_pb2.PLATFORM_AZURE_OPENAI: "azure",
    common_pb2.PLATFORM_BEDROCK: "bedrock",
}
_ROLES: dict[int, ChatRole] = {
    common_pb2.ROLE_SYSTEM: "system",
    common_pb2.ROLE_USER: "user",
    common_pb2.ROLE_ASSISTANT: "assistant",
}


def _invalid(field: str, problem: str) -> InvalidArgument:
    return InvalidArgument(f"{field} {problem}", field=field)


def check_target(target: common_pb2.ModelTarget, field: str) -> None:
    """Platform, endpoint, limits and options must make sense (identifier is checked by the
    caller, since ListProviderModels does not need one)."""
    if target.platform == common_pb2.PLATFORM_UNSPECIFIED:
        raise _invalid(f"{field}.platform", "must be set, e.g. PLATFORM_OPENAI_COMPATIBLE")
    if target.platform not in common_pb2.Platform.values():
        raise _invalid(f"{field}.platform", f"has unknown value {target.platform}")
    # Bedrock's endpoint is optional: AWS's own, unless a private (VPC) endpoint is given.
    if target.endpoint or target.platform != common_pb2.PLATFORM_BEDROCK:
        check_endpoint(target.endpoint, f"{field}.endpoint")
    options = target.WhichOneof("platform_options")
    wanted = _OPTIONS_BY_PLATFORM.get(target.platform)
    if options is not None and options != wanted:
        name = common_pb2.Platform.Name(target.platform)
        raise _invalid(f"{field}.{options}", f"does not apply to platform {name}")
    limits = target.limits
    for duration in ("timeout", "connect_timeout", "first_token_timeout", "idle_timeout"):
        value = getattr(limits, duration)
        if value.seconds < 0 or value.nanos < 0:
            raise _invalid(f"{field}.limits.{duration}", "must not be negative")
    if limits.max_output_tokens < 0:
        raise _invalid(f"{field}.limits.max_output_tokens", "must not be negative")
    if limits.max_concurrent_requests < 0:
        raise _invalid(f"{field}.limits.max_concurrent_requests", "must not be negative")
    if limits.HasField("max_retries") and not 0 <= limits.max_retries <= MAX_RETRIES:
        raise _invalid(f"{field}.limits.max_retries", f"must be 0 to {MAX_RETRIES}")
    check_server_options(target, field)


def check_endpoint(endpoint: str, field: str) -> None:
    if not endpoint:
        raise _invalid(field, "must be set, e.g. http://vllm:8000/v1")
    try:
        url = httpx.URL(endpoint)
    except httpx.InvalidURL:
        raise _invalid(field, "is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise _invalid(field, "must be an http:// or https:// URL with a host")
    if any(c.isspace() for c in endpoint):
        raise _invalid(field, "must not contain whitespace")


_DEADLINE_MARGIN_S = 0.01


def upstream_of(
    target: common_pb2.ModelTarget,
    *,
    api_key: str | None,
    settings: ModelProxySettings,
    remaining_s: float | None,
) -> Upstream:
    """Where to send a checked target's request: its limits, or the settings' defaults where
    the model sets none, with the whole-request timeout capped by the caller's remaining time."""
    limits = target.limits
    model_timeout_s = timeout_s = _seconds(limits.timeout) or settings.default_timeout_s
    if remaining_s is not None:
        # Our clock ends the exchange just before the caller's does: the upstream is closed by
        # us (with a clear error) instead of racing the caller's cancellation, whose second
        # cancel could interrupt httpx while it closes the connection.
        timeout_s = max(min(timeout_s, remaining_s - _DEADLINE_MARGIN_S), 0.001)
    azure = None
    if target.platform == common_pb2.PLATFORM_AZURE_OPENAI:
        options = target.azure
        azure = AzureTarget(
            api_version=options.api_version or settings.azure_api_version,
            v1_api=options.api == common_pb2.AZURE_API_V1,
            entra_bearer=options.auth == common_pb2.AZURE_AUTH_ENTRA_BEARER,
        )
    return Upstream(
        model_name=target.name or target.identifier,
        endpoint=target.endpoint,
        identifier=target.identifier,
        timeout_s=timeout_s,
        api_key=api_key,
        connect_timeout_s=_seconds(limits.connect_timeout) or settings.connect_timeout_s,
        first_token_timeout_s=_seconds(limits.first_token_timeout)
        or settings.first_token_timeout_s,
        idle_timeout_s=_seconds(limits.idle_timeout) or settings.idle_timeout_s,
        max_retries=limits.max_retries if limits.HasField("max_retries") else settings.max_retries,
        max_output_tokens=limits.max_output_tokens,
        model_timeout_s=model_timeout_s,
        azure=azure,
        region=target.bedrock.region,
    )


def _seconds(duration: duration_pb2.Duration) -> float:
    return duration.seconds + duration.nanos / 1e9


def check_generation(generation: pb.Generation, field: str) -> None:
    """Everything but the platform's support must be right before anything is sent."""
    target = generation.target
    if not generation.HasField("target"):
        raise _invalid(f"{field}.target", "must be set")
    check_target(target, f"{field}.target")
    if not target.identifier.strip():
        raise _invalid(f"{field}.target.identifier", "must be set (the provider's model name)")
    kind = generation.WhichOneof("input")
    if kind is None:
        raise _invalid(f"{field}.prompt", "or generation.chat must be set")
    if kind == "prompt" and not generation.prompt:
        raise _invalid(f"{field}.prompt", "must not be empty")
    if kind == "chat":
        _check_messages(generation.chat.messages, f"{field}.chat.messages")
    _check_parameters(generation.parameters, target, f"{field}.parameters")


def _check_messages(messages: Sequence[common_pb2.Message], field: str) -> None:
    if not messages:
        raise _invalid(field, "must hold at least one message")
    for index, message in enumerate(messages):
        if message.role not in _ROLES:
            raise _invalid(
                f"{field}[{index}].role", "must be ROLE_SYSTEM, ROLE_USER or ROLE_ASSISTANT"
            )


def _check_parameters(
    parameters: common_pb2.GenerationParameters, target: common_pb2.ModelTarget, field: str
) -> None:
    limits = target.limits
    if parameters.HasField("max_tokens"):
        if parameters.max_tokens <= 0:
            raise _invalid(f"{field}.max_tokens", f"must be positive, got {parameters.max_tokens}")
        if 0 < limits.max_output_tokens < parameters.max_tokens:
            raise _invalid(
                f"{field}.max_tokens",
                f"is {parameters.max_tokens}, above the model's limit of "
                f"{limits.max_output_tokens} (limits.max_output_tokens)",
            )
        if 0 < limits.context_tokens <= parameters.max_tokens:
            # The server counts the prompt too: an answer this long cannot fit whatever the
            # prompt, and it would only be refused there.
            raise _invalid(
                f"{field}.max_tokens",
                f"is {parameters.max_tokens}, but model {target.name or target.identifier!r} "
                f"serves a context of {limits.context_tokens} tokens for prompt and answer "
                f"together; ask for fewer than {limits.context_tokens} tokens",
            )
    if parameters.HasField("temperature") and not 0 <= parameters.temperature <= 2:
        raise _invalid(
            f"{field}.temperature", f"must be between 0 and 2, got {parameters.temperature:g}"
        )
    if parameters.HasField("top_p") and not 0 < parameters.top_p <= 1:
        raise _invalid(f"{field}.top_p", f"must be above 0 and at most 1, got {parameters.top_p:g}")
    max_stops = max_stop_sequences(target)
    if len(parameters.stop_sequences) > max_stops:
        raise _invalid(
            f"{field}.stop_sequences",
            f"holds {len(parameters.stop_sequences)} entries; model "
            f"{target.name or target.identifier!r} accepts at most {max_stops} "
            "(limits.max_stop_sequences)",
        )
    for index, stop in enumerate(parameters.stop_sequences):
        if not stop:
            raise _invalid(f"{field}.stop_sequences[{index}]", "must not be empty")
    for index, token_id in enumerate(parameters.stop_token_ids):
        if token_id < 0:
            raise _invalid(f"{field}.stop_token_ids[{index}]", "must not be negative")


def generation_request(generation: pb.Generation, upstream: Upstream) -> GenerationRequest:
    """The provider-neutral request for a generation that passed `check_generation`."""
    parameters = generation.parameters
    messages: tuple[ChatMessage, ...] = ()
    if generation.WhichOneof("input") == "chat":
        messages = tuple(ChatMessage(_ROLES[m.role], m.content) for m in generation.chat.messages)
    return GenerationRequest(
        upstream=upstream,
        prompt=generation.prompt if generation.WhichOneof("input") == "prompt" else None,
        messages=messages,
        max_tokens=parameters.max_tokens if parameters.HasField("max_tokens") else None,
        temperature=_float(parameters.temperature) if parameters.HasField("temperature") else None,
        top_p=_float(parameters.top_p) if parameters.HasField("top_p") else None,
        stop=tuple(parameters.stop_sequences),
        stop_token_ids=tuple(parameters.stop_token_ids),
        prompt_as_chat=generation.target.completion_api == common_pb2.COMPLETION_API_CHAT,
    )


def _float(value: float) -> float:
    # Proto floats are 32-bit: 0.2 arrives as 0.20000000298...; send what the caller meant.
    return float(f"{value:.6g}") if math.isfinite(value) else value
