"""The node's database: one LevelDB directory, opened through plyvel (the only module that does).

Every write is synced to disk before it returns: a write we acknowledge (to a peer, to
the log, to the user) must survive a crash or power cut, and LevelDB's default of
leaving it in the OS page cache does not promise that. The exception is a write of DHT
values only (`UNSYNCED_KINDS`: replicas held for the DHT, and the values this node
republishes as their writer). A replica lost in a power cut is restored by the writers'
republishing and by hand-over, so an fsync per stored value (4.5 ms, two per value) buys
nothing. An unsynced write still reaches the OS at once (a killed process loses nothing),
and LevelDB's log is one file written in order: the next synced write makes every earlier
one durable too, so a journal write that follows a publish (clearing its mark) also
commits the published value.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import plyvel  # type: ignore[import-untyped]

from badgechain.storage.errors import (
    STORAGE_CLOSED,
    STORAGE_CORRUPT,
    STORAGE_ERROR,
    STORAGE_LOCKED,
    StorageError,
)
from badgechain.storage.store import Batch, Kind, Op, check_value, full_key, scan_bounds

__all__ = ["NODE_OPTIONS", "PLYVEL_DEFAULTS", "UNSYNCED_KINDS", "LevelOptions", "LevelStore"]

# Kinds whose writes skip the fsync (see above): a batch syncs unless all its keys are these.
UNSYNCED_KINDS: Final = frozenset({Kind.BNS_RECORD, Kind.PUBLISHED})
_UNSYNCED_PREFIXES: Final = frozenset(kind.value[0] for kind in UNSYNCED_KINDS)


@dataclass(frozen=True, slots=True)
class LevelOptions:
    """How much memory LevelDB may hold. Each table file in its table cache (at most
    `max_open_files` - 10) is mapped into the process whole, and the pages read stay resident,
    so with the default of 1,000 a store of a million records (some 200 files of 2 MiB) ends up
    nearly all in RSS after a hand-over or a republish round has read it. Past the cache,
    tables are read with pread into the block cache (`block_cache_bytes`), which is bounded.
    Bloom filters let a read of an absent key (most DHT lookups) skip the table's data."""

    max_open_files: int
    block_cache_bytes: int
    bloom_filter_bits: int


# plyvel's and LevelDB's own defaults (what the node used before issue 13): for comparison.
PLYVEL_DEFAULTS: Final = LevelOptions(1000, 8 * 1024 * 1024, 0)
# LevelDB raises max_open_files below 74 to 74 (64 tables cached).
NODE_OPTIONS: Final = LevelOptions(74, 8 * 1024 * 1024, 10)


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

    def __init__(self, path: str | os.PathLike[str], options: LevelOptions = NODE_OPTIONS) -> None:
        self._path = os.fspath(path)
        try:
            self._db = plyvel.DB(
                self._path,
                create_if_missing=True,
                max_open_files=options.max_open_files,
                lru_cache_size=options.block_cache_bytes,
                bloom_filter_bits=options.bloom_filter_bits,
            )
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
            sync = any(key[0] not in _UNSYNCED_PREFIXES for key, _ in ops)
            # transaction=True: the batch is written only if the block completes.
            with self._db.write_batch(sync=sync, transaction=True) as batch:
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
