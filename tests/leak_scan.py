"""Finds secrets in log output: the test run's own log and every service log it produced.

What counts as a secret: anything shaped like a signed JWT, any PEM private key, anything shaped
like the test API keys (`sk-...`), every admin credential and sealing key the run created (read
back from their files), and every value a test registered with `remember`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_PATTERNS = {
    "a JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"),
    "a PEM private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "a test API key": re.compile(r"\bsk-[A-Za-z0-9-]{4,}"),
}
# Files whose whole content is a secret the run created.
SECRET_FILES = ("admin.token", "credentials.key")
_MIN_SECRET_CHARS = 8

_remembered: set[str] = set()


def remember(secret: str) -> str:
    """Register a secret a test uses so the scan looks for it too; returns it unchanged."""
    if len(secret) >= _MIN_SECRET_CHARS:
        _remembered.add(secret)
    return secret


@dataclass(frozen=True)
class Finding:
    path: Path
    line_number: int
    what: str

    def __str__(self) -> str:
        # Never print the secret itself: only where it is and what kind it is.
        return f"{self.path}:{self.line_number}: {self.what}"


def secrets_in_files(root: Path) -> set[str]:
    """The contents of every secret file under `root`."""
    found = set()
    for name in SECRET_FILES:
        for path in root.rglob(name):
            text = path.read_bytes().decode(errors="replace").strip()
            if len(text) >= _MIN_SECRET_CHARS:
                found.add(text)
    return found


def scan(paths: Iterable[Path], secrets: Iterable[str] = ()) -> list[Finding]:
    """Every line of `paths` that holds a secret."""
    known = sorted({*secrets, *_remembered}, key=len, reverse=True)
    findings: list[Finding] = []
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                findings.extend(
                    Finding(path, number, what)
                    for what, pattern in _PATTERNS.items()
                    if pattern.search(line)
                )
                if any(secret in line for secret in known):
                    findings.append(Finding(path, number, "a known secret"))
    return findings
