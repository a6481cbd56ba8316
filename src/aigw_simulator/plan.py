"""The deterministic answer to one request: which tokens, why it stops, how fast.

Token i of every answer is `f" tok{i}"`, so a test can predict the text with `simulated_text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def simulated_tokens(count: int) -> list[str]:
    """The first `count` tokens every simulated answer consists of."""
    return [f" tok{i}" for i in range(count)]


def simulated_text(count: int) -> str:
    """The text of a simulated answer of `count` tokens."""
    return "".join(simulated_tokens(count))


@dataclass(frozen=True)
class Pace:
    """How fast the answer is produced (0 tokens per second = as fast as possible)."""

    first_token_delay_s: float
    tokens_per_second: float

    def token_offset_s(self, index: int) -> float:
        """Seconds from the request's arrival to token `index`."""
        if self.tokens_per_second <= 0:
            return self.first_token_delay_s
        return self.first_token_delay_s + index / self.tokens_per_second


@dataclass(frozen=True)
class Plan:
    """The whole answer to one generation request, decided before the first token."""

    pieces: tuple[str, ...]
    completion_tokens: int
    finish_reason: str
    stop_reason: str | None
    prompt_tokens: int
    pace: Pace
    error_after_tokens: int | None
    # Faults in a stream: go silent (connection kept) or drop the connection after N tokens.
    stall_after_tokens: int | None = None
    cut_after_tokens: int | None = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def count_prompt_tokens(body: dict[str, Any]) -> int:
    """Whitespace-separated words in the prompt or the chat messages' text."""
    if "messages" in body:
        return sum(
            len(message["content"].split())
            for message in body["messages"]
            if isinstance(message, dict) and isinstance(message.get("content"), str)
        )
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return len(prompt.split())
    if isinstance(prompt, list):
        return len(prompt)
    return 0


def make_plan(
    *,
    wanted_tokens: int,
    max_tokens: int | None,
    stop: list[str],
    prompt_tokens: int,
    pace: Pace,
    error_after_tokens: int | None,
    stall_after_tokens: int | None = None,
    cut_after_tokens: int | None = None,
) -> Plan:
    """Cap the answer at `max_tokens` ("length") and cut it at the first stop string ("stop",
    the string removed as vLLM does by default)."""
    count = wanted_tokens if max_tokens is None else min(wanted_tokens, max_tokens)
    finish_reason = "length" if max_tokens is not None and max_tokens <= wanted_tokens else "stop"
    tokens = simulated_tokens(count)
    text = "".join(tokens)
    hits = [(text.find(s), s) for s in stop if s and s in text]
    if not hits:
        return Plan(
            tuple(tokens),
            count,
            finish_reason,
            None,
            prompt_tokens,
            pace,
            error_after_tokens,
            stall_after_tokens,
            cut_after_tokens,
        )
    cut, matched = min(hits)
    pieces: list[str] = []
    consumed = 0
    used_tokens = 0
    for token in tokens:
        used_tokens += 1
        pieces.append(token[: max(cut - consumed, 0)])
        consumed += len(token)
        if consumed >= cut + len(matched):
            break
    kept = tuple(piece for piece in pieces if piece)
    return Plan(
        kept,
        used_tokens,
        "stop",
        matched,
        prompt_tokens,
        pace,
        error_after_tokens,
        stall_after_tokens,
        cut_after_tokens,
    )
