"""The storage interface: one key space per `Kind`, bounded keys and values, atomic batches.

Backends (`LevelStore`, `MemoryStore`) share the checks and the batch defined here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Final, Protocol

from badgechain.storage.errors import (
    KEY_INVALID,
    STORAGE_CLOSED,
    VALUE_INVALID,
    VALUE_TOO_LARGE,
    StorageError,
)

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_VALUE_BYTES",
    "Batch",
    "Kind",
    "Op",
    "Store",
    "check_key",
    "check_value",
    "full_key",
    "range_end",
    "scan_bounds",
]

MAX_KEY_BYTES: Final = 1024
MAX_VALUE_BYTES: Final = 1024 * 1024


class Kind(enum.Enum):
    """What a record is; its value is the one-byte prefix of its keys in the database.

    Printable ASCII so that a raw dump of the database stays readable. No prefix is 0xff,
    so every kind's key range has a finite upper bound (see `range_end`).
    """

    BADGE = b"b"  # issued and received badges, by UID
    BNS_RECORD = b"n"  # BNS records this node stores for the DHT
    LOG = b"l"  # the node's signed hash-linked log, by sequence number
    KEY = b"k"  # the node's key material
    INDEX = b"i"  # secondary indexes over the other kinds
    STATUS_LIST = b"s"  # revocation status lists
    JOURNAL = b"j"  # bookkeeping: counters, pending work
    PUBLISHED = b"p"  # BNS values this node wrote, which it republishes as their writer
    QUEUE = b"q"  # durable work items (storage/queue.py), by topic and key
    QUEUE_DUE = b"d"  # the live work items by due time (storage/queue.py), values empty
    RATE = b"r"  # rate-limit counts (node/course_limits.py), by limit, window and key


# One pending write: the full key, and the value or None for a delete.
Op = tuple[bytes, bytes | None]


def check_key(key: object) -> bytes:
    """Return `key` if it is a usable key, else raise `key_invalid`."""
    if not isinstance(key, bytes):
        raise StorageError(f"a key must be bytes, not {type(key).__name__}", code=KEY_INVALID)
    if not key or len(key) > MAX_KEY_BYTES:
        raise StorageError(
            f"a key must be 1 to {MAX_KEY_BYTES} bytes, not {len(key)}", code=KEY_INVALID
        )
    return key


def check_value(value: object) -> bytes:
    """Return `value` if it is a storable value, else raise `value_invalid`/`value_too_large`."""
    if not isinstance(value, bytes):
        raise StorageError(f"a value must be bytes, not {type(value).__name__}", code=VALUE_INVALID)
    if len(value) > MAX_VALUE_BYTES:
        raise StorageError(
            f"a value is {len(value)} bytes, over the limit of {MAX_VALUE_BYTES}",
            code=VALUE_TOO_LARGE,
        )
    return value


def full_key(kind: Kind, key: object) -> bytes:
    """The database key: the kind's prefix byte, then the checked key."""
    return kind.value + check_key(key)


def range_end(prefix: bytes) -> bytes:
    """The smallest key above every key that starts with `prefix` (which holds a kind byte)."""
    stripped = prefix.rstrip(b"\xff")
    return stripped[:-1] + bytes([stripped[-1] + 1])


def scan_bounds(
    kind: Kind, prefix: object, start_after: object, limit: object
) -> tuple[bytes, bool, bytes]:
    """Check scan arguments; return (lower bound, lower bound included?, upper bound excluded)."""
    if not isinstance(prefix, bytes) or len(prefix) > MAX_KEY_BYTES:
        raise StorageError(
            f"a scan prefix must be bytes of at most {MAX_KEY_BYTES}", code=KEY_INVALID
        )
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise StorageError(f"a scan limit must be a count >= 0, not {limit!r}", code=KEY_INVALID)
    lower = kind.value + prefix
    upper = range_end(lower)
    if start_after is not None and full_key(kind, start_after) >= lower:
        return full_key(kind, start_after), False, upper
    return lower, True, upper


class Batch:
    """Writes collected in a `with` block and handed to the store in one piece on exit.

    Nothing reaches the store if the block raises. Reads inside the block do not see
    the pending writes. A batch is used once.
    """

    __slots__ = ("_commit", "_done", "_ops")

    def __init__(self, commit: Callable[[Sequence[Op]], None]) -> None:
        self._commit = commit
        self._ops: list[Op] = []
        self._done = False

    def put(self, kind: Kind, key: bytes, value: bytes) -> None:
        self._check_open()
        self._ops.append((full_key(kind, key), check_value(value)))

    def delete(self, kind: Kind, key: bytes) -> None:
        self._check_open()
        self._ops.append((full_key(kind, key), None))

    def __enter__(self) -> Batch:
        self._check_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done = True
        if exc_type is None and self._ops:
            self._commit(self._ops)

    def _check_open(self) -> None:
        if self._done:
            raise StorageError(
                "this batch has already been applied or discarded", code=STORAGE_CLOSED
            )


class Store(Protocol):
    """A node's database: bytes keys and values, one key space per `Kind`."""

    def get(self, kind: Kind, key: bytes) -> bytes | None:
        """The value stored under `key`, or None."""
        ...

    def put(self, kind: Kind, key: bytes, value: bytes) -> None:
        """Store `value` under `key`; durable once this returns (DHT values: by the next
        durable write, see storage/leveldb.py)."""
        ...

    def delete(self, kind: Kind, key: bytes) -> None:
        """Remove `key`; removing an absent key is not an error."""
        ...

    def scan(
        self,
        kind: Kind,
        prefix: bytes = b"",
        *,
        start_after: bytes | None = None,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs of `kind` whose key starts with `prefix`, in byte order.

        Keys come back without the kind prefix. `start_after` skips keys up to and
        including it (for paging); `limit` caps the number of pairs.
        """
        ...

    def batch(self) -> Batch:
        """A batch whose writes apply atomically when its `with` block exits cleanly."""
        ...

    def close(self) -> None:
        """Release the database; every later call raises `storage_closed`."""
        ...
