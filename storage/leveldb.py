"""The node's database: one LevelDB directory, opened through plyvel (the only module that does).

Every write is synced to disk before it returns: a write we acknowledge (to a peer, to
the log, to the user) must survive a crash or power cut, and LevelDB's default of
leaving it in the OS page cache does not promise that.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence

import plyvel  # type: ignore[import-untyped]

from badgechain.storage.errors import (
    STORAGE_CLOSED,
    STORAGE_CORRUPT,
    STORAGE_ERROR,
    STORAGE_LOCKED,
    StorageError,
)
from badgechain.storage.store import Batch, Kind, Op, check_value, full_key, scan_bounds

__all__ = ["LevelStore"]


def _translate(exc: Exception, path: str) -> StorageError:
    """The StorageError for an error raised by plyvel (or by LevelDB below it)."""
    if isinstance(exc, plyvel.CorruptionError):
        return StorageError(f"the database at {path} is corrupt: {exc}", code=STORAGE_CORRUPT)
    if isinstance(exc, plyvel.IOError) and "LOCK" in str(exc):
        # LevelDB takes an exclusive lock on <path>/LOCK for as long as a handle is open.
        return StorageError(
            f"the database at {path} is in use by another process (or another handle "
            "in this one); stop it before opening this database",
            code=STORAGE_LOCKED,
        )
    if isinstance(exc, RuntimeError):  # plyvel's answer to use after close
        return StorageError(f"the database at {path} is closed", code=STORAGE_CLOSED)
    return StorageError(f"the database at {path} failed: {exc}", code=STORAGE_ERROR)


class LevelStore:
    """A `Store` on a LevelDB directory, created if missing. Use from one thread."""

    __slots__ = ("_closed", "_db", "_path")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)
        try:
            self._db = plyvel.DB(self._path, create_if_missing=True)
        except plyvel.Error as exc:
            raise _translate(exc, self._path) from exc
        self._closed = False

    @property
    def path(self) -> str:
        return self._path

    def get(self, kind: Kind, key: bytes) -> bytes | None:
        key = full_key(kind, key)
        self._check_open()
        try:
            value: bytes | None = self._db.get(key)
        except (plyvel.Error, RuntimeError) as exc:
            raise _translate(exc, self._path) from exc
        return value

    def put(self, kind: Kind, key: bytes, value: bytes) -> None:
        self._apply([(full_key(kind, key), check_value(value))])

    def delete(self, kind: Kind, key: bytes) -> None:
        self._apply([(full_key(kind, key), None)])

    def scan(
        self,
        kind: Kind,
        prefix: bytes = b"",
        *,
        start_after: bytes | None = None,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        lower, include_lower, upper = scan_bounds(kind, prefix, start_after, limit)
        self._check_open()
        try:
            # A LevelDB iterator reads from an implicit snapshot taken here.
            raw = self._db.iterator(start=lower, stop=upper, include_start=include_lower)
        except (plyvel.Error, RuntimeError) as exc:
            raise _translate(exc, self._path) from exc
        return self._iterate(raw, limit)

    def batch(self) -> Batch:
        self._check_open()
        return Batch(self._apply)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.close()

    def _iterate(
        self, raw: Iterator[tuple[bytes, bytes]], limit: int | None
    ) -> Iterator[tuple[bytes, bytes]]:
        try:
            for key, value in itertools.islice(raw, limit):
                yield key[1:], value
        except (plyvel.Error, RuntimeError) as exc:
            raise _translate(exc, self._path) from exc

    def _apply(self, ops: Sequence[Op]) -> None:
        self._check_open()
        try:
            # transaction=True: the batch is written only if the block completes.
            with self._db.write_batch(sync=True, transaction=True) as batch:
                for key, value in ops:
                    if value is None:
                        batch.delete(key)
                    else:
                        batch.put(key, value)
        except (plyvel.Error, RuntimeError) as exc:
            raise _translate(exc, self._path) from exc

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"the database at {self._path} is closed", code=STORAGE_CLOSED)
