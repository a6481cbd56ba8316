"""A feature request turned into what one model family expects, with its parameters and the
post-processing its answer needs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from aigw.common.v1 import common_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common import catalog
from aigw_common.catalog import Feature, FeatureKind
from aigw_common.languages import language_of
from aigw_common.server_limits import (
    ServerLimits,
    fit_max_tokens,
    fitted_stops,
    generation_tokens,
)
from aigw_prompts.chat_mapping import map_messages
from aigw_prompts.instructions import extract_instruction
from aigw_prompts.postprocess import PostProcessing
from aigw_prompts.registry import Mode, PromptRegistry, PromptTemplate
from aigw_prompts.trimming import budget_for, fit


@dataclass(frozen=True)
class PreparedPrompt:
    """What to send (a Generation without its target) and how to treat the answer."""

    generation: model_proxy_service_pb2.Generation
    template_id: str
    timeout_s: float | None
    postprocessing: PostProcessing


@cache
def default_registry() -> PromptRegistry:
    """The templates shipped with aigw, compiled once per process."""
    return PromptRegistry.load()


def prepare(
    feature: Feature,
    completion: router_service_pb2.Completion,
    family: str,
    registry: PromptRegistry | None = None,
    limits: ServerLimits | None = None,
) -> PreparedPrompt:
    """The prompt that asks `family` for `feature`, from a checked Completion, fitted to what
    the model's server accepts (`limits`; by default the family's window and 4 stops)."""
    template = (registry or default_registry()).get(feature.name, family)
    spec = catalog.family(family)
    limits = limits or ServerLimits()
    context_tokens = limits.context_tokens or spec.context_tokens
    params = template.parameters
    overrides = completion.parameters
    generation = model_proxy_service_pb2.Generation(
        parameters=common_pb2.GenerationParameters(
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            stop_token_ids=params.stop_token_ids,
        )
    )
    answer_tokens = overrides.max_tokens if overrides.HasField("max_tokens") else params.max_tokens
    suffix = ""
    if feature.kind is FeatureKind.CHAT:
        _render_chat(generation, template, completion, spec.system_role)
    else:
        code = completion.code
        budget = budget_for(
            context_tokens,
            min(answer_tokens or 0, context_tokens // 2),
            max_input_chars=template.input.max_input_chars,
            suffix_share=template.input.suffix_share,
        )
        prefix, suffix = fit(code.content_above_cursor, code.content_below_cursor, budget)
        language = language_of(code.file_name, code.language)
        variables = {
            "prefix": prefix,
            "suffix": suffix,
            "file_name": code.file_name,
            "language": language,
        }
        if feature.kind is FeatureKind.CODE_GENERATION:
            variables["instruction"] = (
                completion.prompt
                if completion.WhichOneof("input") == "prompt"
                else extract_instruction(prefix, language)
            )
        _render_code(generation, template, variables, spec.system_role)
    _apply_overrides(generation.parameters, overrides)
    generation.parameters.stop_sequences.extend(
        fitted_stops(params.stop, overrides.stop_sequences, limits.max_stop_sequences)
    )
    if not overrides.HasField("max_tokens"):
        fit_max_tokens(
            generation.parameters,
            context_tokens=context_tokens,
            prompt_estimate=generation_tokens(generation),
            default=limits.chat_max_tokens if generation.HasField("chat") else None,
        )
    return PreparedPrompt(
        generation=generation,
        template_id=template.id,
        timeout_s=params.timeout_s,
        postprocessing=PostProcessing(template.postprocess, suffix),
    )


def _render_code(
    generation: model_proxy_service_pb2.Generation,
    template: PromptTemplate,
    variables: dict[str, str],
    system_role: bool,
) -> None:
    if template.mode is Mode.COMPLETION:
        assert template.prompt is not None
        generation.prompt = template.prompt.render(variables)
        return
    messages = []
    if template.system is not None:
        messages.append(_message(common_pb2.ROLE_SYSTEM, template.system.render(variables)))
    if template.user is not None:
        messages.append(_message(common_pb2.ROLE_USER, template.user.render(variables)))
    generation.chat.messages.extend(map_messages(messages, system_role=system_role))


def _render_chat(
    generation: model_proxy_service_pb2.Generation,
    template: PromptTemplate,
    completion: router_service_pb2.Completion,
    system_role: bool,
) -> None:
    messages = []
    if template.system is not None:
        messages.append(_message(common_pb2.ROLE_SYSTEM, template.system.render()))
    if completion.WhichOneof("input") == "chat":
        messages.extend(completion.chat.messages)
    else:
        user = completion.prompt
        if template.user is not None:
            user = template.user.render(prompt=completion.prompt)
        messages.append(_message(common_pb2.ROLE_USER, user))
    generation.chat.messages.extend(map_messages(messages, system_role=system_role))


def _apply_overrides(
    parameters: common_pb2.GenerationParameters, overrides: common_pb2.GenerationParameters
) -> None:
    for name in ("max_tokens", "temperature", "top_p"):
        if overrides.HasField(name):
            setattr(parameters, name, getattr(overrides, name))
    parameters.stop_token_ids.extend(
        token for token in overrides.stop_token_ids if token not in parameters.stop_token_ids
    )


def _message(role: common_pb2.Role.ValueType, content: str) -> common_pb2.Message:
    return common_pb2.Message(role=role, content=content)


CHECK_PROMPT = "model_check"
_CHECK_CODE = {
    "prefix": "def add(a, b):\n    ",
    "suffix": "\n",
    "file_name": "check.py",
    "language": "python",
}


def prepare_check(
    family: str, registry: PromptRegistry | None = None, limits: ServerLimits | None = None
) -> PreparedPrompt:
    """The tiny request `aigw models check` sends to a model of `family`."""
    template = (registry or default_registry()).get(CHECK_PROMPT, family)
    params = template.parameters
    max_stops = (limits or ServerLimits()).max_stop_sequences
    generation = model_proxy_service_pb2.Generation(
        parameters=common_pb2.GenerationParameters(
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            stop_sequences=fitted_stops(params.stop, (), max_stops),
            stop_token_ids=params.stop_token_ids,
        )
    )
    _render_code(generation, template, dict(_CHECK_CODE), catalog.family(family).system_role)
    return PreparedPrompt(generation, template.id, params.timeout_s, PostProcessing())
