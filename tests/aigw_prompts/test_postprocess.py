from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from aigw_prompts.postprocess import Filter, PostProcessing, Step

BOTH = (Step.STRIP_FENCES, Step.TRIM_SUFFIX_OVERLAP)


def _streamed(processing: PostProcessing, chunks: list[str]) -> tuple[str, list[str]]:
    answer = processing.start()
    released = [answer.feed(chunk) for chunk in chunks]
    released.append(answer.finish())
    return "".join(released), released


@pytest.mark.parametrize(
    ("raw", "suffix", "expected"),
    [
        ("return a + b", "\n\nprint(add(1, 2))\n", "return a + b"),
        # The model went on to repeat the suffix's first line: cut.
        ("return a + b\n\nprint(add(1, 2))", "\n\nprint(add(1, 2))\n", "return a + b"),
        ("return a + b\n\nprint(add(1, 2))\n", "\n\nprint(add(1, 2))\n", "return a + b"),
        # A tail that is only whitespace matching the suffix's start stays.
        ("return a + b\n", "\nprint(x)\n", "return a + b\n"),
        # Part of a suffix line is not a repetition of it.
        ("x = pri", "print(x)\n", "x = pri"),
        # Markdown fences go, with the language tag and anything after the closing fence.
        ("```python\nreturn a + b\n```\nThis adds.", "", "return a + b"),
        ("  ```\nx = 1\n```", "", "x = 1"),
        ("```python\n```", "", ""),
        ("", "\nprint(x)\n", ""),
        ("   ", "", "   "),
        # Backticks inside code without an opening fence are code.
        ("s = '``'", "", "s = '``'"),
    ],
)
def test_unary_and_streamed_answers_are_cleaned_alike(raw: str, suffix: str, expected: str) -> None:
    processing = PostProcessing(BOTH, suffix)
    assert processing.apply(raw) == expected
    # Any split of the stream gives the same text.
    for size in (1, 2, 3, 7):
        chunks = [raw[i : i + size] for i in range(0, len(raw), size)] or [""]
        assert _streamed(processing, chunks)[0] == expected, size


def test_a_stream_is_held_back_only_where_it_may_repeat_the_suffix() -> None:
    processing = PostProcessing(BOTH, "\n\nprint(x)\n")
    _, released = _streamed(processing, ["return ", "a + b", "\n", "\nprint(x)"])
    assert released[:2] == ["return ", "a + b"]  # released at once
    assert released[2:] == ["", "", ""]  # held: the suffix is being repeated, then dropped


def test_a_fenced_stream_starts_once_the_fence_line_is_complete() -> None:
    processing = PostProcessing((Step.STRIP_FENCES,), "")
    _, released = _streamed(processing, ["``", "`py", "thon\nx", " = 1\n", "``", "`", " done"])
    assert released == ["", "", "x", " = 1", "", "", "", ""]


def test_without_steps_the_answer_is_untouched() -> None:
    assert PostProcessing((), "x\n").apply("```\nx\n```") == "```\nx\n```"


# What a stream may hold back, exactly: text that some continuation of the answer would drop.
# Each case: the suffix, the chunks, and what each feed (then `finish`) releases.
@pytest.mark.parametrize(
    ("suffix", "chunks", "released"),
    [
        # Code that cannot start the suffix or a fence goes at once, chunk by chunk.
        ("\n\nprint(x)\n", ["return", " a", " +", " b"], ["return", " a", " +", " b", ""]),
        # A line end is held while the suffix starts with one (it may begin "\n\nprint(x)"),
        # and only that: the code before it goes.
        ("\n\nprint(x)\n", ["x = 1\n", "y"], ["x = 1", "\ny", ""]),
        # Held while the suffix's first line is being repeated, then cut.
        ("\n}\n", ["return 0;\n", "}"], ["return 0;", "", ""]),
        # Released as soon as the repetition breaks off.
        ("\n}\n", ["return 0;\n", "}", " else"], ["return 0;", "", "\n} else", ""]),
        # Mid-line: the closing text of the suffix, held, then cut.
        ('}!"\n', ["name", ".title", "()", '}!"'], ["name", ".title", "()", "", ""]),
        # Leading newlines and indentation wait for the first visible text (they may precede
        # a fence), then go with it.
        ("\n\ndef f():\n", ["\n", "   ", " total", " = 0"], ["", "", "\n    total", " = 0", ""]),
        # A fence line is held until it is complete, then dropped; so is the closing fence.
        (
            "",
            ["```", "py", "\n", "x = 1", "\n", "```", "\nok"],
            ["", "", "", "x = 1", "", "", "", ""],
        ),
        # Backticks that turn out not to open a fence are code, released with what follows.
        ("", ["``", "x"], ["", "``x", ""]),
        # Whitespace matching only the suffix's start is not a repetition: it is released.
        ("\nprint(x)\n", ["a\n"], ["a", "\n"]),
    ],
)
def test_exactly_what_a_stream_holds_back(
    suffix: str, chunks: list[str], released: list[str]
) -> None:
    assert _streamed(PostProcessing(BOTH, suffix), chunks)[1] == released


def _would_release_now(answer: Filter) -> str:
    return copy.deepcopy(answer).finish()


def _continuations(suffix: str) -> list[str]:
    """Texts that turn a held tail into a cut one: the rest of any prefix of the suffix that
    ends a line, and the rest of any fence."""
    ends = [i for i, char in enumerate(suffix) if char == "\n"] + [len(suffix)]
    pieces = {suffix[start:end] for end in ends for start in range(end + 1)}
    return sorted(pieces | {"```", "``", "`", "\n```", "``\n", "`\n", "\n", "python\n```"})


RECORDED = json.loads(
    (Path(__file__).parents[2] / "bench" / "data" / "code_completions.json").read_text()
)["answers"]
_HAND_MADE = [
    {"suffix": "\n}\n", "chunks": ["if x {\n", "\t", "}", "\n}"]},
    {"suffix": "    return x\n", "chunks": ["y = 1\n", "    ", "return", " x"]},
    {"suffix": "", "chunks": ["\n", "``", "`go\n", "a\n", "`", "``"]},
]


@pytest.mark.parametrize("case", RECORDED + _HAND_MADE, ids=lambda case: case.get("name", "hand"))
def test_nothing_is_held_that_no_continuation_would_drop(case: dict[str, Any]) -> None:
    processing = PostProcessing(BOTH, case["suffix"])
    raw = "".join(case["chunks"])
    splits = [case["chunks"]] + [[raw[i : i + n] for i in range(0, len(raw), n)] for n in (1, 3)]
    continuations = _continuations(case["suffix"][:512])
    for chunks in splits:
        answer, fed, released = processing.start(), "", ""
        for chunk in chunks:
            fed += chunk
            released += answer.feed(chunk)
            held = _would_release_now(answer)
            if not held:
                continue
            # Some continuation must make the whole answer not begin with what was released
            # plus what is held: otherwise the held text was final and should have gone.
            assert any(
                not processing.apply(fed + more).startswith(released + held)
                for more in continuations
            ), (chunks, fed, held)
        assert released + answer.finish() == processing.apply(raw)
