"""A durable work queue in the node's database: items by topic and key, each with the
time it is due, its attempts and its last error. At least once: an item leaves the queue
only when its handler says it is done, so handlers must be idempotent.

Pure storage (no clock, no event loop): callers pass `now` (Unix seconds) and run the
handlers (node/work.py). Putting an item that is queued already keeps the earlier due
time, so enqueuing twice does the work once. An item that failed `max_attempts` times is
dead: it waits for an operator's retry or drop (`GET /admin/queue`, `badgechain queue`);
so is one whose handler gave up on it (`give_up`: a definite refusal, retrying cannot help).

Kind.QUEUE key: <topic> "/" <key>; value: JSON {"due", "attempts", "error", "dead"}.
Kind.QUEUE_DUE key: the due time (8-byte big-endian double) then the Kind.QUEUE key, empty
value, for every live item: `due` reads only the items due, in order, not the whole queue.
An index entry whose item is gone or due at another time is stale: skipped and removed.

Finishing an item need not be synced at once: `done_later` holds it (and the handler's own
clean-up, `on_done`) until `flush`, which the worker calls about once per tick, so many
items finish in one synced write. Losing held ones in a crash only runs them again (at
least once, and handlers are idempotent).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from badgechain.storage.errors import StorageError
from badgechain.storage.store import Batch, Kind, Store

__all__ = ["MAX_TOPIC_CHARS", "QueueItem", "WorkQueue", "queued"]

MAX_TOPIC_CHARS: Final = 32


@dataclass(frozen=True, slots=True)
class QueueItem:
    topic: str
    key: bytes
    due: float
    attempts: int = 0
    error: str = ""
    dead: bool = False

    @property
    def id(self) -> str:
        """How an operator names the item: topic, colon, key in hex."""
        return f"{self.topic}:{self.key.hex()}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "topic": self.topic,
            "due": self.due,
            "attempts": self.attempts,
            "error": self.error,
            "dead": self.dead,
        }

    def stored(self) -> bytes:
        value = {"due": self.due, "attempts": self.attempts, "error": self.error, "dead": self.dead}
        return json.dumps(value).encode()


def _storage_key(topic: str, key: bytes) -> bytes:
    if not topic or len(topic) > MAX_TOPIC_CHARS or "/" in topic or ":" in topic:
        raise StorageError(f"not a queue topic: {topic!r:.40}", code="queue_topic_invalid")
    return topic.encode() + b"/" + key


def queued(store: Store, topic: str | None = None) -> list[QueueItem]:
    """The items in `store`'s queue (of `topic` only, when given), in topic and key order."""
    prefix = b"" if topic is None else _storage_key(topic, b"")
    return [_item(key, value) for key, value in store.scan(Kind.QUEUE, prefix)]


def _item(storage_key: bytes, value: bytes) -> QueueItem:
    topic, _, key = storage_key.partition(b"/")
    data = json.loads(value)
    return QueueItem(
        topic.decode(),
        key,
        float(data["due"]),
        int(data["attempts"]),
        str(data["error"]),
        bool(data["dead"]),
    )


_INDEX_BUILT: Final = b"queue/due-index"  # Kind.JOURNAL: the due index covers the queue


def _due_key(due: float, storage_key: bytes) -> bytes:
    return struct.pack(">d", max(0.0, due)) + storage_key


def _index(batch: Batch, old: QueueItem | None, new: QueueItem | None) -> None:
    """Move an item's due-index entry from `old` to `new` (None: no entry; dead: none)."""
    if old is not None and not old.dead:
        batch.delete(Kind.QUEUE_DUE, _due_key(old.due, _storage_key(old.topic, old.key)))
    if new is not None and not new.dead:
        batch.put(Kind.QUEUE_DUE, _due_key(new.due, _storage_key(new.topic, new.key)), b"")


class WorkQueue:
    """The queue over `store`; `max_attempts` failures make an item dead."""

    def __init__(self, store: Store, max_attempts: int) -> None:
        self.store = store
        self.max_attempts = max_attempts
        # Items finished but not yet written: storage key -> what to delete with it.
        self._held: dict[bytes, list[tuple[Kind, bytes]]] = {}
        self._cleanup: dict[bytes, list[tuple[Kind, bytes]]] = {}  # from `on_done`
        self._build_index()

    def _build_index(self) -> None:
        """Index a queue written before the due index existed (once per database)."""
        if self.store.get(Kind.JOURNAL, _INDEX_BUILT) is not None:
            return
        with self.store.batch() as batch:
            for item in queued(self.store):
                _index(batch, None, item)
            batch.put(Kind.JOURNAL, _INDEX_BUILT, b"1")

    def put(self, topic: str, key: bytes, due: float, batch: Batch | None = None) -> None:
        """Queue work (in `batch`, atomically with what made it, when given). An item queued
        already keeps its due time; a dead one is left for the operator."""
        self.restore(QueueItem(topic, key, due), batch)

    def restore(self, item: QueueItem, batch: Batch | None = None) -> None:
        """`put` with the attempts, error and death the item has already (work queued by
        an older layout, e.g. node/delivery.py's outbox)."""
        storage_key = _storage_key(item.topic, item.key)
        held = self._held.pop(storage_key, None) is not None
        self._cleanup.pop(storage_key, None)
        stored = self._stored(storage_key)
        if stored is not None and not held:
            return
        # Not queued, or finished but not yet written: the new item replaces it.
        self._write(stored, item, batch)

    def items(self, topic: str | None = None) -> list[QueueItem]:
        return [item for item in queued(self.store, topic) if not self._is_held(item)]

    def get(self, topic: str, key: bytes) -> QueueItem | None:
        storage_key = _storage_key(topic, key)
        return None if storage_key in self._held else self._stored(storage_key)

    def due(self, now: float, limit: int, skip: frozenset[str] = frozenset()) -> list[QueueItem]:
        """Live items due at `now`, earliest first, at most `limit` (none named in `skip`)."""
        found: list[QueueItem] = []
        stale: list[bytes] = []
        for index_key, _ in self.store.scan(Kind.QUEUE_DUE):
            if len(found) >= limit or struct.unpack(">d", index_key[:8])[0] > now:
                break
            item = self._live(index_key, stale)
            if item is not None and item.id not in skip:
                found.append(item)
        self._drop_stale(stale)
        return found

    def next_due(self, after: float | None = None) -> float | None:
        """When the earliest live item is due (of those due after `after`, when given);
        None when there is none."""
        start = None if after is None else struct.pack(">d", math.nextafter(max(0.0, after), 1e300))
        stale: list[bytes] = []
        found = None
        for index_key, _ in self.store.scan(Kind.QUEUE_DUE, start_after=start):
            item = self._live(index_key, stale)
            if item is not None:
                found = item.due
                break
        self._drop_stale(stale)
        return found

    def on_done(self, topic: str, key: bytes, deletes: Sequence[tuple[Kind, bytes]]) -> None:
        """Records to delete in the same write as the item's `done` (a handler's clean-up:
        it happens exactly when the item leaves the queue, never before)."""
        self._cleanup[_storage_key(topic, key)] = list(deletes)

    def done(self, item: QueueItem) -> None:
        """The item is finished: remove it now (with anything `done_later` holds)."""
        self.done_later(item)
        self.flush()

    def done_later(self, item: QueueItem) -> None:
        """The item is finished: remove it with the next `flush` (reads skip it already)."""
        storage_key = _storage_key(item.topic, item.key)
        deletes = self._cleanup.pop(storage_key, [])
        stored = self._stored(storage_key)
        if stored is not None:
            deletes.append((Kind.QUEUE, storage_key))
            if not stored.dead:
                deletes.append((Kind.QUEUE_DUE, _due_key(stored.due, storage_key)))
        self._held[storage_key] = deletes

    @property
    def held(self) -> int:
        """How many finished items wait for `flush`."""
        return len(self._held)

    def flush(self) -> None:
        """Write every finished item's removal in one (synced) write."""
        if not self._held:
            return
        held, self._held = self._held, {}
        with self.store.batch() as batch:
            for deletes in held.values():
                for kind, key in deletes:
                    batch.delete(kind, key)

    def failed(
        self, item: QueueItem, error: str, retry_at: float, max_attempts: int | None = None
    ) -> QueueItem:
        """Record a failed attempt: due again at `retry_at`, or dead after the last one
        (`max_attempts` when given, for a topic that tries longer than the rest)."""
        attempts = item.attempts + 1
        dead = attempts >= (self.max_attempts if max_attempts is None else max_attempts)
        updated = replace(item, due=retry_at, attempts=attempts, error=error[:200], dead=dead)
        return self._update(updated)

    def give_up(self, item: QueueItem, error: str) -> QueueItem:
        """Record a failed attempt that no retry can mend: the item is dead at once, kept
        for the operator to see (and retry or drop)."""
        updated = replace(item, attempts=item.attempts + 1, error=error[:200], dead=True)
        return self._update(updated)

    def find(self, item_id: str) -> QueueItem | None:
        topic, _, hex_key = item_id.partition(":")
        try:
            return self.get(topic, bytes.fromhex(hex_key))
        except (ValueError, StorageError):
            return None

    def reschedule(self, items: Sequence[QueueItem], due: float, batch: Batch) -> None:
        """Make each of `items` still queued due at `due`, in the caller's `batch` (many in
        one write: a batch's held deliveries, released when its publishing ends)."""
        for item in items:
            storage_key = _storage_key(item.topic, item.key)
            stored = None if storage_key in self._held else self._stored(storage_key)
            if stored is not None and not stored.dead:
                self._write(stored, replace(stored, due=due), batch)

    def retry(self, item: QueueItem, now: float) -> QueueItem:
        """Make an item (a dead one too) due at once, with its attempts counted afresh."""
        return self._update(replace(item, due=now, attempts=0, dead=False))

    def _update(self, updated: QueueItem) -> QueueItem:
        storage_key = _storage_key(updated.topic, updated.key)
        self._held.pop(storage_key, None)
        self._cleanup.pop(storage_key, None)
        self._write(self._stored(storage_key), updated, None)
        return updated

    def _write(self, old: QueueItem | None, new: QueueItem, batch: Batch | None) -> None:
        if batch is None:
            with self.store.batch() as own:
                self._write(old, new, own)
            return
        batch.put(Kind.QUEUE, _storage_key(new.topic, new.key), new.stored())
        _index(batch, old, new)

    def _stored(self, storage_key: bytes) -> QueueItem | None:
        value = self.store.get(Kind.QUEUE, storage_key)
        return None if value is None else _item(storage_key, value)

    def _is_held(self, item: QueueItem) -> bool:
        return _storage_key(item.topic, item.key) in self._held

    def _live(self, index_key: bytes, stale: list[bytes]) -> QueueItem | None:
        """The live item an index entry names; None (the entry noted in `stale` unless the
        item is only held for `flush`) when it is gone, dead or due at another time."""
        storage_key = index_key[8:]
        if storage_key in self._held:
            return None
        item = self._stored(storage_key)
        if item is None or item.dead or _due_key(item.due, storage_key) != index_key:
            stale.append(index_key)
            return None
        return item

    def _drop_stale(self, stale: list[bytes]) -> None:
        if stale:
            with self.store.batch() as batch:
                for index_key in stale:
                    batch.delete(Kind.QUEUE_DUE, index_key)
