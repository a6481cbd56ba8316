"""Model output cut to fit gRPC messages.

A model may send one huge chunk (or a slow reader lets many coalesce into one); a gRPC message
larger than the channel's limit fails the whole call with gRPC's own RESOURCE_EXHAUSTED. Each
hop that sends text on therefore cuts it into pieces that fit, by characters: UTF-8 needs at
most four bytes a character, so no piece needs encoding to be measured.
"""

from __future__ import annotations

# Room for the rest of a chunk message (finish reason, usage, served_by, framing).
_ENVELOPE_BYTES = 4096


def text_pieces(text: str, max_message_bytes: int) -> list[str]:
    """`text` in order, in pieces that each fit a message of `max_message_bytes`."""
    size = max(1, (max_message_bytes - _ENVELOPE_BYTES) // 4)
    if len(text) <= size:
        return [text]
    return [text[start : start + size] for start in range(0, len(text), size)]
