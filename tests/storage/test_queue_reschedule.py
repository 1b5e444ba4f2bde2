"""`WorkQueue.reschedule` (storage/queue.py): many items made due in one write, the due index
moved with them; a dead item, or one finished meanwhile, is left alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from badgechain.storage import LevelStore, MemoryStore, Store
from badgechain.storage.queue import WorkQueue


@pytest.fixture(params=["memory", "leveldb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened: Store = MemoryStore() if request.param == "memory" else LevelStore(tmp_path / "db")
    yield opened
    opened.close()


def test_reschedule_moves_live_items_only(store: Store) -> None:
    queue = WorkQueue(store, max_attempts=3)
    for key in (b"a", b"b", b"c", b"d"):
        queue.put("deliver", key, 600.0)
    items = {
        key: queue.get("deliver", key) or pytest.fail("queued") for key in (b"a", b"b", b"c", b"d")
    }
    dead = queue.give_up(items[b"c"], "refused")
    queue.done_later(items[b"d"])  # finished, its removal not yet written
    with store.batch() as batch:
        queue.reschedule([items[b"a"], items[b"b"], dead, items[b"d"]], 5.0, batch)
    assert [item.key for item in queue.due(now=5.0, limit=10)] == [b"a", b"b"]
    assert queue.next_due() == 5.0
    assert (queue.get("deliver", b"c") or pytest.fail("kept")).dead
    queue.flush()
    assert queue.get("deliver", b"d") is None and queue.due(now=1e9, limit=10)[-1].key == b"b"
