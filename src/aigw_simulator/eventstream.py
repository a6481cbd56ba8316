"""AWS's binary event-stream framing (`application/vnd.amazon.eventstream`), as Bedrock's
ConverseStream sends it: botocore only ships a decoder, so the simulator has this encoder.

A message is: total length (u32), headers length (u32), CRC32 of those 8 bytes, the headers
(name length u8, name, type 7 = string, value length u16, value), the payload, and a CRC32 of
everything before it (shared reference providers.md section 3.5).
"""

from __future__ import annotations

import json
import struct
from binascii import crc32
from typing import Any

_STRING = 7


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack("!B", len(raw_name))
        + raw_name
        + struct.pack("!BH", _STRING, len(raw_value))
        + raw_value
    )


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers."""
    raw_headers = b"".join(_header(name, value) for name, value in headers.items())
    prelude = struct.pack("!II", 12 + len(raw_headers) + len(payload) + 4, len(raw_headers))
    prelude += struct.pack("!I", crc32(prelude) & 0xFFFFFFFF)
    message = prelude + raw_headers + payload
    return message + struct.pack("!I", crc32(message) & 0xFFFFFFFF)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def event(kind: str, body: Any) -> bytes:
    """An event of the stream's union, e.g. `contentBlockDelta`."""
    headers = {
        ":event-type": kind,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return frame(headers, _json(body))


def exception(kind: str, message: str) -> bytes:
    """An error inside a 200 stream, e.g. `throttlingException` (the lowerCamel member name)."""
    headers = {
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return frame(headers, _json({"message": message}))
