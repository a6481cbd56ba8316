"""The instruction for code generation: the comment right above the cursor.

A developer writes `# read the CSV and sum the second column` and asks for code; the comment
block that ends on the cursor's line or just above it is the instruction.
"""

from __future__ import annotations

import re

DEFAULT_INSTRUCTION = "Generate the best possible code based on the existing code."
_MAX_INSTRUCTION_LINES = 20

_HASH = ("#",)
_SLASHES = ("//",)
_DASHES = ("--",)
_LINE_MARKERS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("python", "ruby", "shell", "yaml", "terraform", "perl", "r"), _HASH),
    **dict.fromkeys(
        (
            "c",
            "cpp",
            "csharp",
            "go",
            "java",
            "javascript",
            "kotlin",
            "php",
            "rust",
            "scala",
            "swift",
            "typescript",
            "vue",
        ),
        _SLASHES,
    ),
    **dict.fromkeys(("sql", "lua", "haskell"), _DASHES),
}
# Unknown language: any of the common line-comment markers.
_ANY_MARKERS = ("#", "//", "--")
_BLOCK = re.compile(r"/\*+(?P<body>.*?)\*+/\s*\Z", re.DOTALL)


def extract_instruction(prefix: str, language: str) -> str:
    """The comment ending the prefix (markers removed), or DEFAULT_INSTRUCTION if there is none."""
    tail = prefix.rstrip()
    if not tail:
        return DEFAULT_INSTRUCTION
    markers = _LINE_MARKERS.get(language, _ANY_MARKERS)
    if markers is _SLASHES or language not in _LINE_MARKERS:
        block = _BLOCK.search(tail)
        if block is not None and "*/" not in block.group("body"):
            text = _clean([line.strip().lstrip("*").strip() for line in block["body"].split("\n")])
            if text:
                return text
    lines: list[str] = []
    for line in reversed(tail.split("\n")):
        stripped = line.strip()
        marker = next((m for m in markers if stripped.startswith(m)), None)
        if marker is None or len(lines) == _MAX_INSTRUCTION_LINES:
            break
        lines.append(stripped[len(marker) :].strip())
    return _clean(list(reversed(lines))) or DEFAULT_INSTRUCTION


def _clean(lines: list[str]) -> str:
    return "\n".join(line for line in lines if line).strip()
