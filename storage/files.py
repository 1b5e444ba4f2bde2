"""Atomic, bounded file access for homes and config files (the database is leveldb.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from badgechain.storage.errors import StorageError

__all__ = ["read_bounded", "write_atomic"]


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write `data` so that a crash leaves either the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_bounded(path: Path, max_bytes: int) -> bytes:
    """Read a user-named file, refusing what is missing, not a file, or too large."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise StorageError(f"{path}: no such file", code="file_not_found") from exc
    except IsADirectoryError as exc:
        raise StorageError(f"{path}: is a directory", code="file_not_found") from exc
    except OSError as exc:
        raise StorageError(f"{path}: {exc.strerror}", code="file_unreadable") from exc
    if len(data) > max_bytes:
        raise StorageError(f"{path}: larger than {max_bytes} bytes", code="input_too_large")
    return data
