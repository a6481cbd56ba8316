from __future__ import annotations

import pytest

from aigw_prompts.postprocess import PostProcessing, Step

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
