from __future__ import annotations

import pytest

from aigw_prompts.instructions import DEFAULT_INSTRUCTION, extract_instruction


@pytest.mark.parametrize(
    ("prefix", "language", "expected"),
    [
        ("def f():\n    # sum the list\n    ", "python", "sum the list"),
        ("# parse the file\n# and count words\n", "python", "parse the file\nand count words"),
        ("int x;\n// allocate a buffer of n bytes\n", "c", "allocate a buffer of n bytes"),
        (
            "/* a function that\n * reverses a string */\n",
            "javascript",
            "a function that\nreverses a string",
        ),
        ("SELECT 1;\n-- all users older than 30\n", "sql", "all users older than 30"),
        ("x = 1\n# note: unknown language\n", "", "note: unknown language"),
        ("x = 1\n", "python", DEFAULT_INSTRUCTION),
        ("# a comment\nx = 1\n", "python", DEFAULT_INSTRUCTION),
        ("", "python", DEFAULT_INSTRUCTION),
        ("// not a python comment\n", "python", DEFAULT_INSTRUCTION),
    ],
)
def test_the_comment_above_the_cursor_is_the_instruction(
    prefix: str, language: str, expected: str
) -> None:
    assert extract_instruction(prefix, language) == expected
