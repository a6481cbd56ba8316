"""Fitting the editor's text into a family's context window, cutting on line boundaries.

Tokens are estimated from characters (3 per token: code tokenizes densely, so this errs on the
side of a prompt that fits). The text nearest the cursor is what is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from aigw_common.server_limits import CHARS_PER_TOKEN

# Room for the template's own text and special tokens.
_TEMPLATE_OVERHEAD_TOKENS = 256


def estimated_tokens(text: str) -> int:
    """The tokens `text` is taken to hold (rounded up)."""
    return -(-len(text) // CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Budget:
    """How many characters of prefix and suffix a prompt may carry."""

    prefix_chars: int
    suffix_chars: int


def budget_for(
    context_tokens: int, max_tokens: int, *, max_input_chars: int, suffix_share: float
) -> Budget:
    """The input budget of a prompt that must leave `max_tokens` for the answer."""
    window = max(context_tokens - max_tokens - _TEMPLATE_OVERHEAD_TOKENS, 0) * CHARS_PER_TOKEN
    total = min(window, max_input_chars)
    suffix = int(total * suffix_share)
    return Budget(prefix_chars=total - suffix, suffix_chars=suffix)


def fit(prefix: str, suffix: str, budget: Budget) -> tuple[str, str]:
    """Prefix and suffix trimmed to `budget`; room the suffix does not use goes to the prefix."""
    suffix = keep_head(suffix, budget.suffix_chars)
    spare = budget.suffix_chars - len(suffix)
    return keep_tail(prefix, budget.prefix_chars + spare), suffix


def keep_tail(text: str, budget: int) -> str:
    """The end of `text`, at most `budget` characters, starting at a line start when cut."""
    if len(text) <= budget:
        return text
    if budget <= 0:
        return ""
    cut = text[-budget:]
    if text[-budget - 1] == "\n":
        return cut
    newline = cut.find("\n")
    return cut[newline + 1 :] if newline != -1 else ""


def keep_head(text: str, budget: int) -> str:
    """The start of `text`, at most `budget` characters, ending at a line end when cut."""
    if len(text) <= budget:
        return text
    if budget <= 0:
        return ""
    cut = text[:budget]
    newline = cut.rfind("\n")
    return cut[: newline + 1] if newline != -1 else ""
