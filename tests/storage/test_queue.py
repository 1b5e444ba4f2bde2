"""The work queue's due index and its grouped removals (storage/queue.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from badgechain.storage import Kind, LevelStore, MemoryStore, Store
from badgechain.storage.queue import QueueItem, WorkQueue


@pytest.fixture(params=["memory", "leveldb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened: Store = MemoryStore() if request.param == "memory" else LevelStore(tmp_path / "db")
    yield opened
    opened.close()


def test_due_lists_only_live_due_items_earliest_first(store: Store) -> None:
    queue = WorkQueue(store, max_attempts=3)
    for n, due in enumerate([30.0, 10.0, 50.0, 20.0]):
        queue.put("publish", b"k%d" % n, due)
    queue.give_up(queue.get("publish", b"k3") or pytest.fail("queued"), "refused")
    assert [item.key for item in queue.due(now=35.0, limit=10)] == [b"k1", b"k0"]
    assert [item.key for item in queue.due(now=100.0, limit=2)] == [b"k1", b"k0"]
    assert queue.due(now=100.0, limit=10, skip=frozenset({"publish:" + b"k1".hex()}))[0].key == (
        b"k0"
    )
    assert queue.next_due() == 10.0
    assert queue.next_due(after=30.0) == 50.0
    assert queue.next_due(after=50.0) is None


def test_put_keeps_the_earlier_due_time_and_failed_moves_the_item(store: Store) -> None:
    queue = WorkQueue(store, max_attempts=2)
    queue.put("deliver", b"u", 10.0)
    queue.put("deliver", b"u", 99.0)  # queued already: unchanged
    [item] = queue.due(now=10.0, limit=5)
    failed = queue.failed(item, "inbox_unreachable: away", retry_at=40.0)
    assert queue.due(now=39.0, limit=5) == []
    assert queue.due(now=40.0, limit=5) == [failed]
    dead = queue.failed(failed, "inbox_unreachable: away", retry_at=80.0)
    assert dead.dead and queue.due(now=1e9, limit=5) == [] and queue.next_due() is None
    assert queue.due(now=50.0, limit=5) == []
    revived = queue.retry(dead, now=60.0)
    assert queue.due(now=60.0, limit=5) == [revived]


def test_done_later_hides_the_item_at_once_and_flush_writes_every_removal(store: Store) -> None:
    queue = WorkQueue(store, max_attempts=3)
    store.put(Kind.JOURNAL, b"outbox/doc/a", b"{}")
    queue.put("deliver", b"a", 1.0)
    queue.put("deliver", b"b", 2.0)
    a, b = queue.due(now=5.0, limit=5)
    queue.on_done("deliver", b"a", [(Kind.JOURNAL, b"outbox/doc/a")])
    queue.done_later(a)
    queue.done_later(b)
    assert queue.held == 2
    assert queue.get("deliver", b"a") is None and queue.items() == []
    assert queue.due(now=5.0, limit=5) == [] and queue.next_due() is None
    # Not written yet: another handle on the database still sees both, and the clean-up.
    assert len(WorkQueue(store, max_attempts=3).items()) == 2
    assert store.get(Kind.JOURNAL, b"outbox/doc/a") == b"{}"
    queue.flush()
    assert queue.held == 0 and WorkQueue(store, max_attempts=3).items() == []
    assert store.get(Kind.JOURNAL, b"outbox/doc/a") is None
    assert list(store.scan(Kind.QUEUE_DUE)) == []


def test_queuing_again_an_item_finished_but_not_written_replaces_it(store: Store) -> None:
    queue = WorkQueue(store, max_attempts=3)
    queue.put("reconcile", b"indexes", 1.0)
    [item] = queue.due(now=1.0, limit=5)
    queue.on_done("reconcile", b"indexes", [(Kind.JOURNAL, b"never-deleted")])
    store.put(Kind.JOURNAL, b"never-deleted", b"kept")
    queue.done_later(item)
    with store.batch() as batch:
        queue.put("reconcile", b"indexes", 500.0, batch)
    queue.flush()
    [again] = queue.items()
    assert again.due == 500.0 and queue.due(now=100.0, limit=5) == []
    assert queue.next_due() == 500.0 and len(list(store.scan(Kind.QUEUE_DUE))) == 1
    assert store.get(Kind.JOURNAL, b"never-deleted") == b"kept"


def test_a_queue_written_before_the_index_is_indexed_on_open(store: Store) -> None:
    old = QueueItem("publish", b"x", 7.0)
    store.put(Kind.QUEUE, b"publish/x", old.stored())
    store.put(Kind.QUEUE, b"publish/y", QueueItem("publish", b"y", 3.0, dead=True).stored())
    queue = WorkQueue(store, max_attempts=3)
    assert queue.due(now=10.0, limit=5) == [old]
    assert len(list(store.scan(Kind.QUEUE_DUE))) == 1


def test_stale_index_entries_are_skipped_and_removed(store: Store) -> None:
    queue = WorkQueue(store, max_attempts=3)
    queue.put("publish", b"x", 5.0)
    store.delete(Kind.QUEUE, b"publish/x")  # e.g. an operator's drop through another handle
    assert queue.due(now=10.0, limit=5) == [] and queue.next_due() is None
    assert list(store.scan(Kind.QUEUE_DUE)) == []
