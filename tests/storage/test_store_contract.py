"""One contract for every `Store`: LevelStore on a temporary directory and MemoryStore."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from badgechain.storage import (
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    Kind,
    LevelStore,
    MemoryStore,
    StorageError,
    Store,
)


@pytest.fixture(params=["leveldb", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The store under test, closed afterwards."""
    opened: Store = LevelStore(tmp_path / "db") if request.param == "leveldb" else MemoryStore()
    yield opened
    opened.close()


def _fill(store: Store, kind: Kind, keys: list[bytes]) -> None:
    for key in keys:
        store.put(kind, key, b"v:" + key)


def test_put_get_delete(store: Store) -> None:
    assert store.get(Kind.BADGE, b"uid1") is None
    store.put(Kind.BADGE, b"uid1", b"one")
    assert store.get(Kind.BADGE, b"uid1") == b"one"
    store.put(Kind.BADGE, b"uid1", b"")
    assert store.get(Kind.BADGE, b"uid1") == b""
    store.delete(Kind.BADGE, b"uid1")
    assert store.get(Kind.BADGE, b"uid1") is None
    store.delete(Kind.BADGE, b"uid1")  # deleting an absent key is not an error


def test_kinds_are_isolated(store: Store) -> None:
    for kind in Kind:
        store.put(kind, b"same", kind.name.encode())
    for kind in Kind:
        assert store.get(kind, b"same") == kind.name.encode()
        assert list(store.scan(kind)) == [(b"same", kind.name.encode())]
    store.delete(Kind.LOG, b"same")
    assert store.get(Kind.LOG, b"same") is None
    assert store.get(Kind.KEY, b"same") == b"KEY"


def test_kind_prefixes_are_distinct_single_bytes() -> None:
    prefixes = [kind.value for kind in Kind]
    assert all(len(p) == 1 and p != b"\xff" for p in prefixes)
    assert len(set(prefixes)) == len(prefixes)


def test_scan_is_in_byte_order_without_kind_prefix(store: Store) -> None:
    keys = [b"b", b"a\xff", b"a", b"ab", b"\x00", b"\xff\xff"]
    _fill(store, Kind.INDEX, keys)
    _fill(store, Kind.JOURNAL, [b"a", b"zz"])  # neighbouring kinds do not leak in
    assert [k for k, _ in store.scan(Kind.INDEX)] == sorted(keys)
    assert dict(store.scan(Kind.INDEX)) == {k: b"v:" + k for k in keys}


def test_scan_prefix(store: Store) -> None:
    _fill(store, Kind.BNS_RECORD, [b"a/1", b"a/2", b"a0", b"b/1", b"a\xff\xff", b"a"])
    assert [k for k, _ in store.scan(Kind.BNS_RECORD, b"a/")] == [b"a/1", b"a/2"]
    assert [k for k, _ in store.scan(Kind.BNS_RECORD, b"a\xff")] == [b"a\xff\xff"]
    assert list(store.scan(Kind.BNS_RECORD, b"c")) == []


def test_scan_start_after_and_limit_page_through(store: Store) -> None:
    keys = [b"k%02d" % i for i in range(10)]
    _fill(store, Kind.LOG, keys)
    pages: list[list[bytes]] = []
    after: bytes | None = None
    while page := [k for k, _ in store.scan(Kind.LOG, b"k", start_after=after, limit=3)]:
        pages.append(page)
        after = page[-1]
    assert pages == [keys[0:3], keys[3:6], keys[6:9], keys[9:]]
    assert [k for k, _ in store.scan(Kind.LOG, start_after=b"k045")] == keys[5:]
    assert [k for k, _ in store.scan(Kind.LOG, b"k0", start_after=b"a")] == keys
    assert list(store.scan(Kind.LOG, limit=0)) == []


def test_batch_applies_all_writes_on_exit(store: Store) -> None:
    store.put(Kind.STATUS_LIST, b"old", b"x")
    with store.batch() as batch:
        batch.put(Kind.STATUS_LIST, b"a", b"1")
        batch.put(Kind.BADGE, b"b", b"2")
        batch.delete(Kind.STATUS_LIST, b"old")
        assert store.get(Kind.STATUS_LIST, b"a") is None  # pending until the block exits
    assert store.get(Kind.STATUS_LIST, b"a") == b"1"
    assert store.get(Kind.BADGE, b"b") == b"2"
    assert store.get(Kind.STATUS_LIST, b"old") is None


def _write_then_fail(store: Store) -> None:
    with store.batch() as batch:
        batch.put(Kind.BADGE, b"a", b"1")
        batch.delete(Kind.BADGE, b"keep")
        raise RuntimeError("boom")


def _write_then_oversize(store: Store) -> None:
    with store.batch() as batch:
        batch.put(Kind.BADGE, b"a", b"1")
        batch.put(Kind.BADGE, b"b", b"x" * (MAX_VALUE_BYTES + 1))


def test_batch_that_raises_writes_nothing(store: Store) -> None:
    store.put(Kind.BADGE, b"keep", b"x")
    with pytest.raises(RuntimeError, match="boom"):
        _write_then_fail(store)
    assert store.get(Kind.BADGE, b"a") is None
    assert store.get(Kind.BADGE, b"keep") == b"x"


def test_batch_with_an_invalid_write_writes_nothing(store: Store) -> None:
    with pytest.raises(StorageError) as info:
        _write_then_oversize(store)
    assert info.value.code == "value_too_large"
    assert store.get(Kind.BADGE, b"a") is None


def test_batch_is_used_once(store: Store) -> None:
    with store.batch() as batch:
        batch.put(Kind.BADGE, b"a", b"1")
    with pytest.raises(StorageError) as info:
        batch.put(Kind.BADGE, b"b", b"2")
    assert info.value.code == "storage_closed"
    assert store.get(Kind.BADGE, b"b") is None


@pytest.mark.parametrize(
    ("key", "code"),
    [
        (b"", "key_invalid"),
        (b"k" * (MAX_KEY_BYTES + 1), "key_invalid"),
        ("text", "key_invalid"),
    ],
    ids=["empty", "too-long", "not-bytes"],
)
def test_bad_keys_are_refused(store: Store, key: bytes, code: str) -> None:
    for call in (
        lambda: store.put(Kind.BADGE, key, b"v"),
        lambda: store.get(Kind.BADGE, key),
        lambda: store.delete(Kind.BADGE, key),
        lambda: list(store.scan(Kind.BADGE, start_after=key)),
    ):
        with pytest.raises(StorageError) as info:
            call()
        assert info.value.code == code


def test_size_bounds(store: Store) -> None:
    store.put(Kind.BADGE, b"k" * MAX_KEY_BYTES, b"x" * MAX_VALUE_BYTES)
    assert store.get(Kind.BADGE, b"k" * MAX_KEY_BYTES) == b"x" * MAX_VALUE_BYTES
    with pytest.raises(StorageError) as info:
        store.put(Kind.BADGE, b"big", b"x" * (MAX_VALUE_BYTES + 1))
    assert info.value.code == "value_too_large"
    assert info.value.http_status == 413
    assert store.get(Kind.BADGE, b"big") is None


def test_bad_values_and_scan_arguments_are_refused(store: Store) -> None:
    with pytest.raises(StorageError) as info:
        store.put(Kind.BADGE, b"k", "text")  # type: ignore[arg-type]
    assert info.value.code == "value_invalid"
    with pytest.raises(StorageError):
        list(store.scan(Kind.BADGE, limit=-1))
    with pytest.raises(StorageError):
        list(store.scan(Kind.BADGE, b"p" * (MAX_KEY_BYTES + 1)))


def test_closed_store_raises(store: Store) -> None:
    store.put(Kind.BADGE, b"a", b"1")
    store.put(Kind.BADGE, b"b", b"2")
    pending = store.scan(Kind.BADGE)
    assert next(pending) == (b"a", b"1")
    batch = store.batch()
    store.close()
    store.close()  # closing twice is harmless
    calls: list[Callable[[], object]] = [
        lambda: store.get(Kind.BADGE, b"a"),
        lambda: store.put(Kind.BADGE, b"a", b"1"),
        lambda: store.delete(Kind.BADGE, b"a"),
        lambda: list(store.scan(Kind.BADGE)),
        lambda: next(pending),
        store.batch,
    ]
    for call in calls:
        with pytest.raises(StorageError) as info:
            call()
        assert info.value.code == "storage_closed"
    with pytest.raises(StorageError) as info, batch:
        batch.put(Kind.BADGE, b"c", b"3")
    assert info.value.code == "storage_closed"


def test_reopen_keeps_data(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    store = LevelStore(tmp_path / "db")
    store.put(Kind.LOG, b"1", b"first")
    with store.batch() as batch:
        batch.put(Kind.LOG, b"2", b"second")
        batch.put(Kind.KEY, b"node", b"secret")
    store.close()
    reopened = LevelStore(tmp_path / "db")
    request.addfinalizer(reopened.close)
    assert list(reopened.scan(Kind.LOG)) == [(b"1", b"first"), (b"2", b"second")]
    assert reopened.get(Kind.KEY, b"node") == b"secret"


def test_second_open_of_same_path_is_locked(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    first = LevelStore(tmp_path / "db")
    request.addfinalizer(first.close)
    with pytest.raises(StorageError) as info:
        LevelStore(tmp_path / "db")
    assert info.value.code == "storage_locked"
    assert info.value.http_status == 503
    assert "in use by another process" in info.value.message
    assert str(tmp_path / "db") in info.value.message
    first.put(Kind.BADGE, b"still", b"works")
    assert first.get(Kind.BADGE, b"still") == b"works"
