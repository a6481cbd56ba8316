"""Page sizes and opaque page tokens for the list RPCs (AIP-158)."""

from __future__ import annotations

import base64
import binascii

from aigw_common.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_MAX_KEY_CHARS = 255


def page_size(requested: int) -> int:
    """The page size to use: 0 means the default, larger than the maximum is capped."""
    if requested < 0:
        raise InvalidArgument("page_size: must not be negative", field="page_size")
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


def encode_token(kind: str, last_key: str) -> str:
    """A token for the page after `last_key` in a listing of `kind`."""
    return base64.urlsafe_b64encode(f"{kind}:{last_key}".encode()).decode("ascii")


def decode_token(kind: str, token: str) -> str:
    """The key to list after ("" for the first page); InvalidArgument for a token not ours."""
    if not token:
        return ""
    try:
        text = base64.b64decode(token, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix = f"{kind}:"
    key = text.removeprefix(prefix)
    if not text.startswith(prefix) or not 0 < len(key) <= _MAX_KEY_CHARS:
        raise bad_token()
    return key


def bad_token() -> InvalidArgument:
    return InvalidArgument(
        "page_token: not a next_page_token from this listing", field="page_token"
    )
