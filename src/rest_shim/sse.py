"""Server-sent event messages (the WHATWG `text/event-stream` format), framed as bytes.

Fields are separated by CRLF unless the caller asks otherwise (OpenAI's streams use LF): the
bytes GitLab's gateway and OpenAI send. Data spanning lines becomes one `data:` field per line,
as the format requires; event names never span lines.
"""

from __future__ import annotations

import re

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def sse_event(data: str, *, event: str | None = None, sep: str = "\r\n") -> bytes:
    """One message: `event: <event>` (if any), then `data: <line>` per line of `data`, then a
    blank line."""
    head = "" if event is None else f"event: {_LINE_BREAK.sub('', event)}{sep}"
    lines = "".join(f"data: {line}{sep}" for line in _LINE_BREAK.split(data))
    return f"{head}{lines}{sep}".encode()
