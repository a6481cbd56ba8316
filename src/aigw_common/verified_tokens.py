"""Tokens already verified, remembered until they expire, so that a caller's every request does
not pay for a signature check (an RSA verification is the largest share of auth's CPU).

Keyed by the token's exact text: a hit is the same bytes that were verified, so it names the
same claims. An entry never outlives the token's `exp` (checked on every hit, no leeway) and is
used only while the key that verified it is still the one its issuer's key set serves under
that `kid`: a key removed from the set (rotated out, or withdrawn because it leaked) stops its
cached tokens at the same moment it stops uncached ones — the next key-set refresh. aigw has no
per-token revocation list; a token stays valid until its `exp` with or without this cache.
The cache holds at most `max_entries` tokens (least recently used dropped first); 0 disables it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jwt import PyJWK

    from aigw_common.token_verifier import Principal, TrustedIssuer


@dataclass(frozen=True)
class VerifiedToken:
    principal: Principal
    issuer: TrustedIssuer
    kid: str
    key: PyJWK
    # The token's `exp`, seconds since the epoch.
    expires_at: float


class VerifiedTokens:
    """A bounded, least-recently-used map from token text to what verifying it proved."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, VerifiedToken] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def principal(self, token: str) -> Principal | None:
        """The principal `token` was verified to name, if that still holds; else None."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if self._clock() >= entry.expires_at or (
            await entry.issuer.keys.key_for(entry.kid) is not entry.key
        ):
            self._entries.pop(token, None)
            return None
        # Another call may have evicted it while the key was looked up: it is still valid.
        if token in self._entries:
            self._entries.move_to_end(token)
        return entry.principal

    def remember(self, token: str, entry: VerifiedToken) -> None:
        if self._max_entries <= 0 or self._clock() >= entry.expires_at:
            return
        self._entries[token] = entry
        self._entries.move_to_end(token)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
