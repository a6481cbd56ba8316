"""Turns a feature request into what the model's family expects.

Code completion uses the family's fill-in-the-middle tokens when it has them (vLLM rejects
`suffix`, so the tokens go into the prompt); other families get the editor state as a chat.
The prefix and suffix are trimmed to a budget on line boundaries, keeping the text nearest the
cursor.
"""

from __future__ import annotations

from dataclasses import dataclass

from aigw.common.v1 import common_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2
from aigw.router.v1 import router_service_pb2
from aigw_common.catalog import Feature, FeatureKind
from aigw_common.languages import language_of

_PREFIX_BUDGET_CHARS = 16_000
_SUFFIX_BUDGET_CHARS = 4_000
# Families whose chat templates refuse a system role: it is merged into the first user turn.
_NO_SYSTEM_ROLE = frozenset({"codestral", "mistral", "mixtral"})


@dataclass(frozen=True)
class _Fim:
    template: str
    stop: tuple[str, ...]


_FIM_BY_FAMILY = {
    "codestral": _Fim(
        "[SUFFIX]{suffix}[PREFIX]{prefix}",
        ("[INST]", "[/INST]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]"),
    ),
    "codegemma": _Fim(
        "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
        ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>"),
    ),
    "codellama": _Fim("<PRE> {prefix} <SUF>{suffix} <MID>", ("<PRE>", "<SUF>", "<MID>", "<EOT>")),
    "deepseekcoder": _Fim(
        "<\uff5cfim\u2581begin\uff5c>{prefix}<\uff5cfim\u2581hole\uff5c>{suffix}<\uff5cfim\u2581end\uff5c>",
        (),
    ),
}

_DEFAULTS = {
    FeatureKind.CODE_COMPLETION: common_pb2.GenerationParameters(max_tokens=64, temperature=0.2),
    FeatureKind.CODE_GENERATION: common_pb2.GenerationParameters(max_tokens=512, temperature=0.3),
    FeatureKind.CHAT: common_pb2.GenerationParameters(max_tokens=1024, temperature=0.7),
}

_COMPLETION_SYSTEM = (
    "You are a code completion tool for {language} in the file {file_name}. Reply with only the "
    "code that belongs at the cursor so that prefix + your code + suffix is correct. No markdown, "
    "no explanations, never repeat the prefix or the suffix. An empty reply is allowed."
)
_GENERATION_SYSTEM = (
    "You are an accurate code generation agent. Produce valid {language} code for {file_name} "
    "that fits the existing code and its names. Reply with code only: no markdown, no explanations."
)
_DEFAULT_INSTRUCTION = "Generate the best possible code based on the existing code."


def render(
    feature: Feature, completion: router_service_pb2.Completion, family: str
) -> model_proxy_service_pb2.Generation:
    """The generation (without its target) that asks `family` for `feature`."""
    generation = model_proxy_service_pb2.Generation(parameters=_DEFAULTS[feature.kind])
    kind = completion.WhichOneof("input")
    if kind == "code":
        if feature.kind is FeatureKind.CODE_COMPLETION:
            _render_completion(generation, completion.code, family)
        else:
            _render_generation(generation, completion.code, family, instruction="")
    elif kind == "chat":
        _set_chat(generation, list(completion.chat.messages), family)
    elif feature.kind is FeatureKind.CODE_GENERATION:
        _render_generation(generation, router_service_pb2.CodeContext(), family, completion.prompt)
    else:
        generation.prompt = completion.prompt
    _apply_overrides(generation.parameters, completion.parameters)
    return generation


def _render_completion(
    generation: model_proxy_service_pb2.Generation,
    code: router_service_pb2.CodeContext,
    family: str,
) -> None:
    prefix = _keep_tail(code.content_above_cursor, _PREFIX_BUDGET_CHARS)
    suffix = _keep_head(code.content_below_cursor, _SUFFIX_BUDGET_CHARS)
    fim = _FIM_BY_FAMILY.get(family)
    if fim is not None:
        generation.prompt = fim.template.format(prefix=prefix, suffix=suffix)
        generation.parameters.stop_sequences.extend(fim.stop)
        return
    system = _COMPLETION_SYSTEM.format(
        language=language_of(code.file_name, code.language) or "code", file_name=code.file_name
    )
    user = f"<prefix>{prefix}</prefix><cursor/><suffix>{suffix}</suffix>"
    _set_chat(generation, [_message(common_pb2.ROLE_SYSTEM, system), _user(user)], family)


def _render_generation(
    generation: model_proxy_service_pb2.Generation,
    code: router_service_pb2.CodeContext,
    family: str,
    instruction: str,
) -> None:
    system = _GENERATION_SYSTEM.format(
        language=language_of(code.file_name, code.language) or "the file's language",
        file_name=code.file_name or "the file",
    )
    prefix = _keep_tail(code.content_above_cursor, _PREFIX_BUDGET_CHARS)
    user = (
        f"## Existing code:\n{prefix}\n\n## Instruction:\n{instruction or _DEFAULT_INSTRUCTION}\n\n"
        "Do not repeat the existing code. Reply with code only."
    )
    _set_chat(generation, [_message(common_pb2.ROLE_SYSTEM, system), _user(user)], family)


def _set_chat(
    generation: model_proxy_service_pb2.Generation,
    messages: list[common_pb2.Message],
    family: str,
) -> None:
    if family in _NO_SYSTEM_ROLE:
        messages = _merge_system_into_first_user(messages)
    generation.chat.messages.extend(messages)


def _merge_system_into_first_user(messages: list[common_pb2.Message]) -> list[common_pb2.Message]:
    system = "\n\n".join(m.content for m in messages if m.role == common_pb2.ROLE_SYSTEM)
    rest = [m for m in messages if m.role != common_pb2.ROLE_SYSTEM]
    if not system:
        return rest
    if rest and rest[0].role == common_pb2.ROLE_USER:
        return [_user(f"{system}\n\n{rest[0].content}"), *rest[1:]]
    return [_user(system), *rest]


def _apply_overrides(
    parameters: common_pb2.GenerationParameters, overrides: common_pb2.GenerationParameters
) -> None:
    for name in ("max_tokens", "temperature", "top_p"):
        if overrides.HasField(name):
            setattr(parameters, name, getattr(overrides, name))
    parameters.stop_sequences.extend(overrides.stop_sequences)
    parameters.stop_token_ids.extend(overrides.stop_token_ids)


def _keep_tail(text: str, budget: int) -> str:
    if len(text) <= budget:
        return text
    cut = text[-budget:]
    newline = cut.find("\n")
    return cut[newline + 1 :] if newline != -1 else cut


def _keep_head(text: str, budget: int) -> str:
    if len(text) <= budget:
        return text
    cut = text[:budget]
    newline = cut.rfind("\n")
    return cut[:newline] if newline != -1 else cut


def _message(role: common_pb2.Role.ValueType, content: str) -> common_pb2.Message:
    return common_pb2.Message(role=role, content=content)


def _user(content: str) -> common_pb2.Message:
    return _message(common_pb2.ROLE_USER, content)
