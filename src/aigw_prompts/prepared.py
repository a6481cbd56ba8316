"""Sampling parameters for prompts a GitLab client prepared itself.

GitLab Rails renders some prompts on its side (code generation with `prompt_version` 2 or 3, the
`/v1/chat/*` invokables). GitLab's gateway sends those to the model with its chat model's
defaults rather than a template's, and adds the family's stop sequences. Without them vLLM
samples at its own defaults (temperature 1.0, up to the whole context), so aigw sends the same.
"""

from __future__ import annotations

from aigw.common.v1 import common_pb2

MAX_TOKENS = 2048
TEMPERATURE = 0.2
TOP_P = 0.95

# GitLab's per-family stop tokens for its chat model; families not listed get none.
_STOP_SEQUENCES: dict[str, tuple[str, ...]] = {
    # Rails' self-hosted generation prompts for Mistral ask for the code inside <new_code>.
    "mistral": ("</new_code>",),
    # CodeGemma ends a fill-in-the-middle answer with one of its FIM tokens.
    "codegemma": ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>"),
}


def prepared_parameters(
    family: str, explicit: common_pb2.GenerationParameters
) -> common_pb2.GenerationParameters:
    """GitLab's parameters for a prepared prompt served by `family`; what the caller set wins."""
    parameters = common_pb2.GenerationParameters(
        max_tokens=MAX_TOKENS, temperature=TEMPERATURE, top_p=TOP_P
    )
    for name in ("max_tokens", "temperature", "top_p"):
        if explicit.HasField(name):
            setattr(parameters, name, getattr(explicit, name))
    stops = [*_STOP_SEQUENCES.get(family, ()), *explicit.stop_sequences]
    parameters.stop_sequences.extend(dict.fromkeys(stops))
    parameters.stop_token_ids.extend(explicit.stop_token_ids)
    return parameters
