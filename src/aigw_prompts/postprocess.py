"""Cleaning a model's answer: markdown fences dropped, a repeated suffix cut off.

The same filters serve unary and streamed answers: text goes in with `feed` as it arrives and
comes out as soon as it is known to be final; `finish` releases what was held back. A filter
holds back only text that may still turn out to be a fence or the start of the suffix, so a
stream is delayed only where the answer looks like one of those. An empty answer stays empty.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

_FENCE = "```"
# How much of the suffix a repetition is looked for in.
_MAX_SUFFIX_OVERLAP = 512


class Step(enum.Enum):
    STRIP_FENCES = "strip_fences"
    TRIM_SUFFIX_OVERLAP = "trim_suffix_overlap"


class Filter(Protocol):
    def feed(self, text: str) -> str: ...

    def finish(self) -> str: ...


@dataclass(frozen=True)
class PostProcessing:
    """The steps a template asks for, and the suffix the answer must not repeat."""

    steps: tuple[Step, ...] = ()
    suffix: str = ""

    def start(self) -> Filter:
        """A fresh filter for one answer."""
        filters: list[Filter] = []
        for step in self.steps:
            if step is Step.STRIP_FENCES:
                filters.append(_FenceFilter())
            elif self.suffix.strip():
                filters.append(_SuffixOverlapFilter(self.suffix[:_MAX_SUFFIX_OVERLAP]))
        return _Chain(filters)

    def apply(self, text: str) -> str:
        """The whole answer, cleaned."""
        answer = self.start()
        return answer.feed(text) + answer.finish()


class _Chain:
    def __init__(self, filters: Sequence[Filter]) -> None:
        self._filters = filters

    def feed(self, text: str) -> str:
        for stage in self._filters:
            text = stage.feed(text)
        return text

    def finish(self) -> str:
        text = ""
        for stage in self._filters:
            text = stage.feed(text) + stage.finish()
        return text


class _FenceFilter:
    """Drops an opening ```lang line and everything from the closing fence (at a line start) on."""

    def __init__(self) -> None:
        self._pending = ""
        self._opening_decided = False
        self._fenced = False
        self._closed = False
        # Once fenced, the body is kept behind a "\n" of our own so that a fence on its first
        # line is found like any other; it is dropped with the first text released.
        self._lead = False

    def feed(self, text: str) -> str:
        if self._closed:
            return ""
        self._pending += text
        if not self._opening_decided and not self._decide_opening():
            return ""
        if not self._fenced:
            out, self._pending = self._pending, ""
            return out
        return self._release_before_closing()

    def finish(self) -> str:
        if self._closed:
            return ""
        rest, self._pending = self._pending, ""
        if not self._opening_decided:
            # Only whitespace, or an unfinished fence line (an empty answer), arrived.
            return "" if rest.strip() else rest
        return self._without_lead(rest)

    def _decide_opening(self) -> bool:
        start = self._pending.lstrip()
        if len(start) < len(_FENCE) and _FENCE.startswith(start):
            return False  # too early to tell
        if start.startswith(_FENCE):
            newline = start.find("\n")
            if newline == -1:
                return False  # the language tag may continue
            self._pending = start[newline:]
            self._fenced = self._lead = True
        self._opening_decided = True
        return True

    def _release_before_closing(self) -> str:
        closing = "\n" + _FENCE
        fence = self._pending.find(closing)
        if fence != -1:
            out = self._pending[:fence]
            self._pending = ""
            self._closed = True
            return self._without_lead(out)
        hold = _longest_tail_that_starts(self._pending, closing)
        out = self._pending[: len(self._pending) - hold]
        self._pending = self._pending[len(out) :]
        return self._without_lead(out)

    def _without_lead(self, out: str) -> str:
        if self._lead and out:
            self._lead = False
            return out[1:]
        return out


class _SuffixOverlapFilter:
    """Cuts an answer's tail that repeats the start of the suffix up to a whole line of it."""

    def __init__(self, suffix: str) -> None:
        self._suffix = suffix
        self._held = ""

    def feed(self, text: str) -> str:
        if not text:
            return ""
        pending = self._held + text
        hold = _longest_tail_that_starts(pending, self._suffix)
        self._held = pending[len(pending) - hold :] if hold else ""
        return pending[: len(pending) - hold]

    def finish(self) -> str:
        held, self._held = self._held, ""
        rest_of_suffix = self._suffix[len(held) :]
        repeats_a_line = not rest_of_suffix or rest_of_suffix.startswith("\n")
        if held.strip() and repeats_a_line:
            return ""
        return held


def _longest_tail_that_starts(text: str, target: str) -> int:
    """The length of the longest tail of `text` that is a prefix of `target`."""
    if not target:
        return 0
    # Only where `target`'s first character occurs can such a tail start: one comparison per
    # occurrence (a line end, for most suffixes), not one per length.
    first = target[0]
    start = text.find(first, max(0, len(text) - len(target)))
    while start != -1:
        if target.startswith(text[start:]):
            return len(text) - start
        start = text.find(first, start + 1)
    return 0
