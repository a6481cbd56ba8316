"""The programming language of a file, from the editor's language id or the file extension."""

from __future__ import annotations

from pathlib import PurePosixPath

_BY_EXTENSION = {
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".css": "css",
    ".go": "go",
    ".html": "html",
    ".java": "java",
    ".js": "javascript",
    ".jsx": "javascript",
    ".kt": "kotlin",
    ".php": "php",
    ".py": "python",
    ".rb": "ruby",
    ".rs": "rust",
    ".scala": "scala",
    ".sh": "shell",
    ".sql": "sql",
    ".swift": "swift",
    ".tf": "terraform",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".vue": "vue",
    ".yaml": "yaml",
    ".yml": "yaml",
}


def language_of(file_name: str, language_identifier: str | None = None) -> str:
    """The editor's language id when given, else the one the extension implies, else ""."""
    if language_identifier:
        return language_identifier.lower()
    return _BY_EXTENSION.get(PurePosixPath(file_name).suffix.lower(), "")
