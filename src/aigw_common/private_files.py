"""Owner-only files that several processes may try to create at the same time.

A file is written in full under a unique temporary name and then hard-linked into place: the
link fails if the name exists, so the first writer wins, nobody clobbers anybody, and a reader
never sees a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

import structlog

_log = structlog.get_logger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


def ensure_private_dir(path: Path) -> None:
    """Create `path` (and parents) and make it owner-only."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)


def ensure_private_file(path: Path) -> None:
    """Create `path` empty and owner-only unless it exists; an existing one loses group and
    world access. For files a library then opens itself (SQLite: its WAL and shared-memory files
    take the database file's mode)."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, FILE_MODE)


def create_exclusive(path: Path, data: bytes) -> bool:
    """Write `data` to `path` (mode 0600) unless it exists. True if this call created it."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _fsync_dir(path.parent)
    return True


def replace_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` (mode 0600), replacing it atomically: a reader sees the old file
    or the new one, never a mix, even if this process dies half-way."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _fsync_dir(path.parent)


def read_private(path: Path) -> bytes:
    """The contents of an owner-only file; group or world access is removed (and logged)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        _log.warning("tightening permissions of a secret file", path=str(path), mode=oct(mode))
        try:
            os.chmod(path, FILE_MODE)
        except OSError as error:
            # A read-only mount (a Kubernetes Secret): its mode is set where it is mounted.
            _log.warning("cannot tighten a read-only secret file", error=type(error).__name__)
    return path.read_bytes()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
