"""A durable work queue in the node's database: items by topic and key, each with the
time it is due, its attempts and its last error. At least once: an item leaves the queue
only when its handler says it is done, so handlers must be idempotent.

Pure storage (no clock, no event loop): callers pass `now` (Unix seconds) and run the
handlers (node/work.py). Putting an item that is queued already keeps the earlier due
time, so enqueuing twice does the work once. An item that failed `max_attempts` times is
dead: it waits for an operator's retry or drop (`GET /admin/queue`, `badgechain queue`);
so is one whose handler gave up on it (`give_up`: a definite refusal, retrying cannot help).

Kind.QUEUE key: <topic> "/" <key>; value: JSON {"due", "attempts", "error", "dead"}.
"""

from __future__ import annotations

import json
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


class WorkQueue:
    """The queue over `store`; `max_attempts` failures make an item dead."""

    def __init__(self, store: Store, max_attempts: int) -> None:
        self.store = store
        self.max_attempts = max_attempts

    def put(self, topic: str, key: bytes, due: float, batch: Batch | None = None) -> None:
        """Queue work (in `batch`, atomically with what made it, when given). An item queued
        already keeps its due time; a dead one is left for the operator."""
        self.restore(QueueItem(topic, key, due), batch)

    def restore(self, item: QueueItem, batch: Batch | None = None) -> None:
        """`put` with the attempts, error and death the item has already (work queued by
        an older layout, e.g. node/delivery.py's outbox)."""
        storage_key = _storage_key(item.topic, item.key)
        if self.store.get(Kind.QUEUE, storage_key) is not None:
            return
        if batch is None:
            self.store.put(Kind.QUEUE, storage_key, item.stored())
        else:
            batch.put(Kind.QUEUE, storage_key, item.stored())

    def items(self, topic: str | None = None) -> list[QueueItem]:
        return queued(self.store, topic)

    def get(self, topic: str, key: bytes) -> QueueItem | None:
        storage_key = _storage_key(topic, key)
        value = self.store.get(Kind.QUEUE, storage_key)
        return None if value is None else _item(storage_key, value)

    def due(self, now: float, limit: int) -> list[QueueItem]:
        """Live items due at `now`, earliest first, at most `limit`."""
        live = [item for item in self.items() if not item.dead and item.due <= now]
        return sorted(live, key=lambda item: item.due)[:limit]

    def next_due(self) -> float | None:
        """When the earliest live item is due; None when none is queued."""
        return min((item.due for item in self.items() if not item.dead), default=None)

    def done(self, item: QueueItem) -> None:
        self.store.delete(Kind.QUEUE, _storage_key(item.topic, item.key))

    def failed(
        self, item: QueueItem, error: str, retry_at: float, max_attempts: int | None = None
    ) -> QueueItem:
        """Record a failed attempt: due again at `retry_at`, or dead after the last one
        (`max_attempts` when given, for a topic that tries longer than the rest)."""
        attempts = item.attempts + 1
        dead = attempts >= (self.max_attempts if max_attempts is None else max_attempts)
        updated = replace(item, due=retry_at, attempts=attempts, error=error[:200], dead=dead)
        self.store.put(Kind.QUEUE, _storage_key(item.topic, item.key), updated.stored())
        return updated

    def give_up(self, item: QueueItem, error: str) -> QueueItem:
        """Record a failed attempt that no retry can mend: the item is dead at once, kept
        for the operator to see (and retry or drop)."""
        updated = replace(item, attempts=item.attempts + 1, error=error[:200], dead=True)
        self.store.put(Kind.QUEUE, _storage_key(item.topic, item.key), updated.stored())
        return updated

    def find(self, item_id: str) -> QueueItem | None:
        topic, _, hex_key = item_id.partition(":")
        try:
            return self.get(topic, bytes.fromhex(hex_key))
        except (ValueError, StorageError):
            return None

    def retry(self, item: QueueItem, now: float) -> QueueItem:
        """Make an item (a dead one too) due at once, with its attempts counted afresh."""
        updated = replace(item, due=now, attempts=0, dead=False)
        self.store.put(Kind.QUEUE, _storage_key(item.topic, item.key), updated.stored())
        return updated
