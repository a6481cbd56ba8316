"""Checks a Generation or ModelTarget message and turns it into the providers' request types.

Every refusal is InvalidArgument naming the offending field by its path in the request, e.g.
`generation.target.endpoint`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from google.protobuf import duration_pb2

from aigw.common.v1 import common_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2 as pb
from aigw_common.deadlines import call_timeout
from aigw_common.request_rules import check_identifier, check_parameters, check_target, invalid
from aigw_common.server_limits import max_stop_sequences
from aigw_common.settings import ModelProxySettings
from model_proxy_svc.providers.base import (
    AzureTarget,
    ChatMessage,
    ChatRole,
    GenerationRequest,
    Upstream,
)

if TYPE_CHECKING:
    from aigw_common.grpc_types import Context

_ROLES: dict[int, ChatRole] = {
    common_pb2.ROLE_SYSTEM: "system",
    common_pb2.ROLE_USER: "user",
    common_pb2.ROLE_ASSISTANT: "assistant",
}


def upstream_of(
    target: common_pb2.ModelTarget,
    *,
    api_key: str | None,
    settings: ModelProxySettings,
    context: Context | None,
) -> Upstream:
    """Where to send a checked target's request: its limits, or the settings' defaults where
    the model sets none. The whole exchange ends with the caller's deadline (which the router
    already narrowed to the model's timeout, a prompt template's included), capped by the
    model's own limits.timeout; only a caller without a deadline gets the default timeout.
    Ending just before the caller's clock does closes the upstream with a clear error instead
    of racing the caller's cancellation, whose second cancel could interrupt httpx while it
    closes the connection."""
    limits = target.limits
    own_timeout_s = _seconds(limits.timeout) or None
    timeout_s = call_timeout(context, own_timeout_s) or settings.default_timeout_s
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
        model_timeout_s=own_timeout_s or settings.default_timeout_s,
        azure=azure,
        region=target.bedrock.region,
    )


def _seconds(duration: duration_pb2.Duration) -> float:
    return duration.seconds + duration.nanos / 1e9


def check_generation(generation: pb.Generation, field: str) -> None:
    """Everything but the platform's support must be right before anything is sent."""
    target = generation.target
    if not generation.HasField("target"):
        raise invalid(f"{field}.target", "must be set")
    check_target(target, f"{field}.target")
    check_identifier(target.identifier, f"{field}.target.identifier")
    kind = generation.WhichOneof("input")
    if kind is None:
        raise invalid(f"{field}.prompt", "or generation.chat must be set")
    if kind == "prompt" and not generation.prompt:
        raise invalid(f"{field}.prompt", "must not be empty")
    if kind == "chat":
        _check_messages(generation.chat.messages, f"{field}.chat.messages")
    check_parameters(
        generation.parameters,
        f"{field}.parameters",
        max_output_tokens=target.limits.max_output_tokens,
        max_stop_sequences=max_stop_sequences(target),
        context_tokens=target.limits.context_tokens,
        model=target.name or target.identifier,
    )


def _check_messages(messages: Sequence[common_pb2.Message], field: str) -> None:
    if not messages:
        raise invalid(field, "must hold at least one message")
    for index, message in enumerate(messages):
        if message.role not in _ROLES:
            raise invalid(
                f"{field}[{index}].role", "must be ROLE_SYSTEM, ROLE_USER or ROLE_ASSISTANT"
            )


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
