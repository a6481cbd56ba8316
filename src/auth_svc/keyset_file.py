"""The signing keys on disk: `<data_dir>/keys/keyset.json` (which key is in which state, and
since when) beside one owner-only PEM file per key.

`keyset.json` is replaced atomically, and only after the PEM files it names are written, so a
crash at any point leaves a readable key set. A key's PEM file is deleted only after the key
set that no longer names it is in place.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias, cast, get_args

from aigw_common.errors import FailedPrecondition
from aigw_common.private_files import (
    create_exclusive,
    ensure_private_dir,
    read_private,
    replace_private,
)
from auth_svc.signing_key import Algorithm, SigningKey

KEYS_DIR = "keys"
KEYSET_FILE = "keyset.json"
_FORMAT_VERSION = 1

# active: signs new tokens. next: published, signs once the keys are rotated (so routers know
# it before any token carries it). retiring: no longer signs; verifies until `retire_at`.
KeyState: TypeAlias = Literal["active", "next", "retiring"]


@dataclass(frozen=True)
class KeyRecord:
    """What the key set says about one key."""

    kid: str
    algorithm: Algorithm
    file: str
    state: KeyState
    created_at: datetime
    activated_at: datetime | None = None
    deactivated_at: datetime | None = None
    retire_at: datetime | None = None

    def with_state(
        self,
        state: KeyState,
        *,
        activated_at: datetime | None = None,
        deactivated_at: datetime | None = None,
        retire_at: datetime | None = None,
    ) -> KeyRecord:
        """The same key in `state`, with the given times set (the others kept)."""
        return replace(
            self,
            state=state,
            activated_at=activated_at or self.activated_at,
            deactivated_at=deactivated_at or self.deactivated_at,
            retire_at=retire_at or self.retire_at,
        )

    def to_json(self) -> dict[str, str | None]:
        return {
            "kid": self.kid,
            "algorithm": self.algorithm,
            "file": self.file,
            "state": self.state,
            "created_at": self.created_at.isoformat(),
            "activated_at": _iso(self.activated_at),
            "deactivated_at": _iso(self.deactivated_at),
            "retire_at": _iso(self.retire_at),
        }

    @classmethod
    def from_json(cls, data: Any) -> KeyRecord:
        if not isinstance(data, dict):
            raise ValueError("a key entry is not an object")
        algorithm, state, file = data.get("algorithm"), data.get("state"), data.get("file")
        if algorithm not in get_args(Algorithm) or state not in get_args(KeyState):
            raise ValueError("a key entry has an unknown algorithm or state")
        # Only a plain name inside the keys directory, never a path elsewhere.
        if not isinstance(file, str) or Path(file).name != file or file.startswith("."):
            raise ValueError("a key entry names an invalid file")
        if not isinstance(data.get("kid"), str) or not data["kid"]:
            raise ValueError("a key entry has no kid")
        return cls(
            kid=data["kid"],
            algorithm=cast("Algorithm", algorithm),
            file=file,
            state=cast("KeyState", state),
            created_at=_datetime(data.get("created_at")),
            activated_at=_optional_datetime(data.get("activated_at")),
            deactivated_at=_optional_datetime(data.get("deactivated_at")),
            retire_at=_optional_datetime(data.get("retire_at")),
        )


class KeySetFile:
    """Reads and writes the key set and its PEM files in one directory."""

    def __init__(self, data_dir: Path) -> None:
        self.directory = data_dir / KEYS_DIR
        self.path = self.directory / KEYSET_FILE

    def prepare(self) -> None:
        ensure_private_dir(self.directory)

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> list[KeyRecord]:
        """The records, checked for consistency; FailedPrecondition naming the file if not."""
        try:
            document = json.loads(read_private(self.path))
            if not isinstance(document, dict) or document.get("version") != _FORMAT_VERSION:
                raise ValueError("unknown format version")
            records = [KeyRecord.from_json(entry) for entry in document.get("keys", [])]
            check_records(records)
        except (ValueError, UnicodeDecodeError) as error:
            raise FailedPrecondition(
                f"the key set {self.path} is damaged ({error}); restore it from a backup"
            ) from None
        return records

    def create(self, records: Sequence[KeyRecord]) -> bool:
        """Write the first key set unless one exists; True if this call wrote it."""
        return create_exclusive(self.path, _encode(records))

    def write(self, records: Sequence[KeyRecord]) -> None:
        """Replace the key set atomically."""
        check_records(records)
        replace_private(self.path, _encode(records))

    def write_key(self, key: SigningKey) -> str:
        """Store `key` in its own owner-only PEM file; returns the file's name."""
        name = f"{key.kid}.pem"
        create_exclusive(self.directory / name, key.to_pem())
        return name

    def load_key(self, record: KeyRecord) -> SigningKey:
        key = SigningKey.load(self.directory / record.file, record.algorithm)
        if key.kid != record.kid:
            raise FailedPrecondition(
                f"the key file {self.directory / record.file} does not hold key {record.kid}"
            )
        return key

    def remove_key_file(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.directory / name).unlink()


def check_records(records: Sequence[KeyRecord]) -> None:
    """Exactly one active key, at most one next key, every kid once."""
    states = [record.state for record in records]
    if states.count("active") != 1 or states.count("next") > 1:
        raise ValueError("a key set needs exactly one active key and at most one next key")
    if len({record.kid for record in records}) != len(records):
        raise ValueError("a key set names a kid twice")


def _encode(records: Sequence[KeyRecord]) -> bytes:
    document = {"version": _FORMAT_VERSION, "keys": [record.to_json() for record in records]}
    return json.dumps(document, indent=2).encode()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("a key entry has no valid time")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a key entry has a time without a time zone")
    return moment


def _optional_datetime(value: Any) -> datetime | None:
    return None if value is None else _datetime(value)
