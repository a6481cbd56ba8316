"""The signing keys: one active signer, the next signer (already published), and keys that no
longer sign but still verify the tokens they signed.

Rotation promotes the next key to active, so every router has long had it in its key set when
the first token it signs arrives; the old active key keeps verifying until every token it can
have signed has expired (`AuthSettings.key_retention_s`), then it is retired: removed from the
key set and from disk. The state lives in `<data_dir>/keys/` (see keyset_file.py); a legacy
`signing-<alg>.pem` from before rotation existed becomes the active key on first start. With
several replicas it lives in PostgreSQL instead (shared_keys.py): every change is computed from
the rows as they are under a lock, never from this replica's copy, and the others reload.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import structlog
from jwt import PyJWK

from aigw_common.errors import FailedPrecondition
from aigw_common.jwks_cache import MIN_ON_DEMAND_REFRESH_S
from auth_svc.keyset_file import (
    KEYS_DIR,
    KeyRecord,
    KeySetFile,
    KeyState,
    check_records,
)
from auth_svc.signing_key import Algorithm, PrivateKey, SigningKey, jwk_thumbprint

__all__ = [
    "KEYS_DIR",
    "Algorithm",
    "KeyRecord",
    "KeyState",
    "KeyStore",
    "PrivateKey",
    "SigningKey",
    "jwk_thumbprint",
]

_log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]

# A router refreshes its key set on an unknown kid at most every MIN_ON_DEMAND_REFRESH_S (5 s).
# Rotating no faster than twice that means a router either fetched the key set after the new
# signer was published, or fetched so long ago that it may fetch again the moment the signer's
# first token arrives.
MIN_ROTATION_INTERVAL_S = 2 * MIN_ON_DEMAND_REFRESH_S


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Entry:
    record: KeyRecord
    key: SigningKey


Entries = dict[str, _Entry]


class SharedKeyStorage(Protocol):
    """A key set several replicas change (shared_keys.py)."""

    def read(self) -> list[tuple[KeyRecord, SigningKey]]: ...

    def change(
        self,
        compute: Callable[[list[tuple[KeyRecord, SigningKey]]], list[tuple[KeyRecord, SigningKey]]],
    ) -> list[tuple[KeyRecord, SigningKey]]:
        """Run `compute` on the stored key set under a lock every replica takes; store and
        return its result."""
        ...


class KeyStore:
    """The published keys, exactly one of which signs new tokens."""

    def __init__(
        self,
        entries: Sequence[tuple[KeyRecord, SigningKey]],
        *,
        storage: KeySetFile | None = None,
        shared: SharedKeyStorage | None = None,
        clock: Clock = _utc_now,
        read_only: bool = False,
    ) -> None:
        self._entries = _entries(entries)
        self._storage = storage
        self._shared = shared
        self._clock = clock
        self._read_only = read_only

    @classmethod
    def load_read_only(cls, data_dir: Path, *, clock: Clock = _utc_now) -> KeyStore:
        """The key set mounted at `<data_dir>/keys` (e.g. a Kubernetes Secret, shared by every
        replica): read, never written; rotation is refused (rotate the Secret instead)."""
        storage = KeySetFile(data_dir)
        records = storage.read()
        store = cls(
            [(record, storage.load_key(record)) for record in records],
            clock=clock,
            read_only=True,
        )
        _log.info("mounted signing keys loaded", active_kid=store.active.kid)
        return store

    @classmethod
    def shared(cls, storage: SharedKeyStorage, *, clock: Clock = _utc_now) -> KeyStore:
        """The key set every replica shares (created by the first replica to start)."""
        store = cls(storage.read(), shared=storage, clock=clock)
        _log.info("shared signing keys loaded", active_kid=store.active.kid)
        return store

    @property
    def shared_storage(self) -> SharedKeyStorage | None:
        return self._shared

    def reload(self) -> None:
        """Take up changes another replica made (shared key sets only)."""
        if self._shared is not None:
            self._entries = _entries(self._shared.read())

    @classmethod
    def load_or_create(
        cls, data_dir: Path, algorithm: Algorithm, *, clock: Clock = _utc_now
    ) -> KeyStore:
        """The key set in `data_dir`, created on first start with keys for `algorithm`.

        When several processes start at once, all end up with the key set written first.
        """
        storage = KeySetFile(data_dir)
        storage.prepare()
        if not storage.exists():
            _create_first_key_set(storage, algorithm, clock())
        records = storage.read()
        store = cls(
            [(record, storage.load_key(record)) for record in records],
            storage=storage,
            clock=clock,
        )
        _log.info(
            "signing keys loaded",
            active_kid=store.active.kid,
            algorithm=store.active.algorithm,
            published=len(records),
        )
        return store

    @property
    def active(self) -> SigningKey:
        """The key that signs new tokens."""
        return self._entry("active").key

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        """Every published key: the active one, the next one, and those still verifying."""
        return tuple(entry.key for entry in self._entries.values())

    def records(self) -> list[KeyRecord]:
        """What is known about each published key, the active one first."""
        order = {"active": 0, "next": 1, "retiring": 2}
        return sorted(
            (entry.record for entry in self._entries.values()),
            key=lambda record: (order[record.state], record.created_at),
        )

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public keys as an RFC 7517 JWK Set."""
        return {"keys": [dict(entry.key.public_jwk) for entry in self._entries.values()]}

    def jwks_json(self) -> str:
        return json.dumps(self.jwks(), separators=(",", ":"))

    async def key_for(self, kid: str) -> PyJWK | None:
        """The public key with exactly this `kid`, if it is one of ours."""
        entry = self._entries.get(kid)
        return entry.key.verifier if entry is not None else None

    def rotate(
        self,
        new_next: SigningKey,
        *,
        retention_s: float,
        min_interval_s: float = MIN_ROTATION_INTERVAL_S,
    ) -> KeyRecord:
        """Promote the next key to active and publish `new_next` as the one after it.

        The replaced key keeps verifying for `retention_s`. FailedPrecondition when the last
        change of signer (or publication of the next key) is under `min_interval_s` old.
        Returns the new active key's record.
        """
        promoted: list[KeyRecord] = []

        def compute(entries: Entries) -> Entries:
            entries, record = self._rotated(entries, new_next, retention_s, min_interval_s)
            promoted.append(record)
            return entries

        self._change(compute)
        return promoted[0]

    def _rotated(
        self, current: Entries, new_next: SigningKey, retention_s: float, min_interval_s: float
    ) -> tuple[Entries, KeyRecord]:
        now = self._clock()
        current, _ = self._without_expired(current)
        active, upcoming = _entry(current, "active"), _entries_in(current, "next")
        last_change = max(
            [active.record.activated_at or active.record.created_at]
            + [entry.record.created_at for entry in upcoming]
        )
        wait_s = min_interval_s - (now - last_change).total_seconds()
        if wait_s > 0:
            raise FailedPrecondition(
                f"the signing keys changed less than {min_interval_s:g} s ago; rotate again in "
                f"{wait_s:.0f} s, once every router can have seen the new key",
                metadata={"retry_after_s": f"{wait_s:.0f}"},
            )
        file = self._storage.write_key(new_next) if self._storage is not None else ""
        entries = dict(current)
        retiring = active.record.with_state(
            "retiring", deactivated_at=now, retire_at=now + timedelta(seconds=retention_s)
        )
        entries[active.record.kid] = _Entry(retiring, active.key)
        if upcoming:
            promoted = upcoming[0].record.with_state("active", activated_at=now)
            entries[promoted.kid] = _Entry(promoted, upcoming[0].key)
        else:
            # A key set from before staged keys existed: the new key signs at once, and
            # routers find it by refreshing on its unknown kid.
            promoted = KeyRecord(new_next.kid, new_next.algorithm, file, "active", now, now)
            entries[promoted.kid] = _Entry(promoted, new_next)
        if upcoming:
            staged = KeyRecord(new_next.kid, new_next.algorithm, file, "next", now)
            entries[staged.kid] = _Entry(staged, new_next)
        _log.info(
            "signing keys rotated",
            active_kid=promoted.kid,
            next_kid=new_next.kid if upcoming else None,
            retiring_kid=retiring.kid,
            retire_at=retiring.retire_at.isoformat() if retiring.retire_at else None,
        )
        return entries, promoted

    def retire_expired(self) -> list[str]:
        """Remove keys whose retention has passed (from the key set, then from disk)."""
        _, expired = self._without_expired(self._entries)
        if not expired or self._read_only:
            return []
        removed: list[KeyRecord] = []

        def compute(entries: Entries) -> Entries:
            kept, gone = self._without_expired(entries)
            removed.extend(gone)
            return kept

        self._change(compute)
        for record in removed:
            if self._storage is not None and record.file:
                self._storage.remove_key_file(record.file)
            _log.info("signing key retired", kid=record.kid)
        return [record.kid for record in removed]

    def _without_expired(self, entries: Entries) -> tuple[Entries, list[KeyRecord]]:
        now = self._clock()
        expired = [
            entry.record
            for entry in entries.values()
            if entry.record.state == "retiring"
            and entry.record.retire_at is not None
            and entry.record.retire_at <= now
        ]
        kept = {kid: entry for kid, entry in entries.items() if entry.record not in expired}
        return kept, expired

    def _change(self, compute: Callable[[Entries], Entries]) -> None:
        """Apply `compute` to the key set: to the stored one under its lock when shared."""
        if self._read_only:
            raise FailedPrecondition(
                "the signing keys are mounted read-only (AIGW_CLUSTER=true without "
                "AIGW_DATABASE__URL); change them in the Secret they come from"
            )
        shared = self._shared
        if shared is not None:
            self._entries = _entries(shared.change(lambda pairs: _pairs(compute(_entries(pairs)))))
            return
        entries = compute(self._entries)
        if self._storage is not None:
            self._storage.write([entry.record for entry in entries.values()])
        self._entries = entries

    def _entry(self, state: KeyState) -> _Entry:
        return _entry(self._entries, state)


def _entries(pairs: Sequence[tuple[KeyRecord, SigningKey]]) -> Entries:
    check_records([record for record, _ in pairs])
    return {record.kid: _Entry(record, key) for record, key in pairs}


def _pairs(entries: Entries) -> list[tuple[KeyRecord, SigningKey]]:
    return [(entry.record, entry.key) for entry in entries.values()]


def _entry(entries: Entries, state: KeyState) -> _Entry:
    (entry,) = _entries_in(entries, state)
    return entry


def _entries_in(entries: Entries, state: KeyState) -> list[_Entry]:
    return [entry for entry in entries.values() if entry.record.state == state]


def _create_first_key_set(storage: KeySetFile, algorithm: Algorithm, now: datetime) -> None:
    legacy = storage.directory / f"signing-{algorithm.lower()}.pem"
    if legacy.exists():
        # Tokens signed before rotation existed keep verifying: that key stays the signer.
        active = SigningKey.load(legacy, algorithm)
        active_file, written = legacy.name, []
    else:
        active = SigningKey.generate(algorithm)
        active_file = storage.write_key(active)
        written = [active_file]
    upcoming = SigningKey.generate(algorithm)
    upcoming_file = storage.write_key(upcoming)
    written.append(upcoming_file)
    records = [
        KeyRecord(active.kid, algorithm, active_file, "active", now, activated_at=now),
        KeyRecord(upcoming.kid, algorithm, upcoming_file, "next", now),
    ]
    if storage.create(records):
        _log.info("generated signing keys", algorithm=algorithm, active_kid=active.kid)
        return
    # Another process wrote the key set first; its keys are the ones in use.
    for name in written:
        storage.remove_key_file(name)
