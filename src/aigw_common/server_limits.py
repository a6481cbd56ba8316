"""What one model server accepts in a request: how many stop sequences, how many tokens of
context (prompt and answer together). The router fits its prompts to these; the model proxy
refuses what exceeds them before anything is sent.

Tokens are estimated from characters, erring on the side of more tokens (code tokenizes
densely), so what aigw sends fits; only the server can count a caller's own text exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aigw.common.v1 import common_pb2
from aigw.modelproxy.v1 import model_proxy_service_pb2
from aigw_common.request_rules import MAX_STOP_SEQUENCES

# vLLM's VLLM_MAX_STOP_STRINGS default; OpenAI's own API (and Azure's) also allow 4.
OPENAI_MAX_STOP_SEQUENCES = 4
_OPENAI_PLATFORMS = (common_pb2.PLATFORM_OPENAI_COMPATIBLE, common_pb2.PLATFORM_AZURE_OPENAI)

CHARS_PER_TOKEN = 3
# A chat message costs its text plus the role markers the server's chat template adds.
_TOKENS_PER_MESSAGE = 8


@dataclass(frozen=True)
class ServerLimits:
    """What a prompt must fit: the served context (0: unknown, the family's window applies),
    the most stop sequences, and the answer budget of chat when nothing else sets one (without
    one, vLLM lets an answer run to the end of the context)."""

    context_tokens: int = 0
    max_stop_sequences: int = OPENAI_MAX_STOP_SEQUENCES
    chat_max_tokens: int = 1024


def max_stop_sequences(target: common_pb2.ModelTarget) -> int:
    """The model's own limit, else its platform's."""
    if target.limits.max_stop_sequences > 0:
        return target.limits.max_stop_sequences
    if target.platform in _OPENAI_PLATFORMS:
        return OPENAI_MAX_STOP_SEQUENCES
    return MAX_STOP_SEQUENCES


def estimated_tokens(chars: int) -> int:
    """A generous token count for `chars` characters of text."""
    return -(-chars // CHARS_PER_TOKEN)


def prompt_tokens(prompt: str | None, messages: Iterable[str]) -> int:
    """A generous token count for a prompt, or for chat messages' contents."""
    if prompt is not None:
        return estimated_tokens(len(prompt))
    return sum(estimated_tokens(len(text)) + _TOKENS_PER_MESSAGE for text in messages)


def generation_tokens(generation: model_proxy_service_pb2.Generation) -> int:
    """A generous token count for a rendered generation's prompt or messages."""
    if generation.HasField("chat"):
        return prompt_tokens(None, (m.content for m in generation.chat.messages))
    return prompt_tokens(generation.prompt, ())


def answer_room(context_tokens: int, prompt_estimate: int) -> int:
    """Tokens left for the answer once the prompt is in the context (at least 1: a prompt that
    fills the context is the server's to refuse, with its exact count)."""
    return max(context_tokens - prompt_estimate, 1)


def fitted_stops(
    template_stops: Sequence[str], caller_stops: Sequence[str], limit: int
) -> list[str]:
    """The caller's stops first (all of them: more than `limit` is refused elsewhere), then the
    template's in its order of importance while there is room."""
    stops = list(dict.fromkeys(caller_stops))
    for stop in template_stops:
        if len(stops) >= limit:
            break
        if stop not in stops:
            stops.append(stop)
    return stops


def fit_max_tokens(
    parameters: common_pb2.GenerationParameters,
    *,
    context_tokens: int,
    prompt_estimate: int,
    default: int | None,
) -> None:
    """`parameters.max_tokens` as aigw chooses it (a template's, else `default`), lowered to
    the room the prompt leaves in the context. Never called on a caller's own value: that one
    is the caller's, and refused if it cannot fit."""
    wanted = parameters.max_tokens if parameters.HasField("max_tokens") else default
    if wanted is None:
        return
    if context_tokens > 0:
        wanted = min(wanted, answer_room(context_tokens, prompt_estimate))
    parameters.max_tokens = wanted
