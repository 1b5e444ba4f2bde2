"""An in-memory `Store` with the same contract as `LevelStore`, for fast tests elsewhere."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence

from badgechain.storage.errors import STORAGE_CLOSED, StorageError
from badgechain.storage.store import (
    Batch,
    Kind,
    Op,
    check_value,
    full_key,
    scan_bounds,
)

__all__ = ["MemoryStore"]


class MemoryStore:
    """A dict behind the `Store` interface; scans see a snapshot taken when they start."""

    __slots__ = ("_closed", "_data")

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._closed = False

    def get(self, kind: Kind, key: bytes) -> bytes | None:
        self._check_open()
        return self._data.get(full_key(kind, key))

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
        self._check_open()
        lower, include_lower, upper = scan_bounds(kind, prefix, start_after, limit)
        keys = sorted(self._data)
        first = (bisect.bisect_left if include_lower else bisect.bisect_right)(keys, lower)
        last = bisect.bisect_left(keys, upper)
        chosen = keys[first:last][:limit]
        return self._iterate([(key, self._data[key]) for key in chosen])

    def batch(self) -> Batch:
        self._check_open()
        return Batch(self._apply)

    def close(self) -> None:
        self._closed = True

    def _iterate(self, items: list[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
        for key, value in items:
            self._check_open()
            yield key[1:], value

    def _apply(self, ops: Sequence[Op]) -> None:
        self._check_open()
        for key, value in ops:
            if value is None:
                self._data.pop(key, None)
            else:
                self._data[key] = value

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the store is closed", code=STORAGE_CLOSED)
