"""Child process of test_crash_safety: writes numbered three-key records until it is killed.

Usage: python crash_writer.py DB_PATH. Prints "ready", then "ack N" after each batch returns.
Before each batch it writes an unsynced DHT value for the same record.
"""

from __future__ import annotations

import sys

from badgechain.storage import Kind, LevelStore

NEXT_KEY = b"next"
PARTS = (b"a", b"b", b"c")


def record_key(n: int, part: bytes) -> bytes:
    return b"rec/%08d/" % n + part


def record_value(n: int, part: bytes) -> bytes:
    # A few hundred bytes that differ per record and part, so a torn write would show.
    return (b"%d:" % n + part + b":") * 40


def main(path: str) -> None:
    store = LevelStore(path)
    n = int(store.get(Kind.JOURNAL, NEXT_KEY) or b"0")
    print("ready", flush=True)
    while True:
        # A DHT value first, written without an fsync (storage/leveldb.py UNSYNCED_KINDS):
        # the synced batch after it must make it durable as well.
        store.put(Kind.BNS_RECORD, record_key(n, b"dht"), record_value(n, b"dht"))
        with store.batch() as batch:
            for part in PARTS:
                batch.put(Kind.JOURNAL, record_key(n, part), record_value(n, part))
            batch.put(Kind.JOURNAL, NEXT_KEY, b"%d" % (n + 1))
        print(f"ack {n}", flush=True)
        n += 1


if __name__ == "__main__":
    main(sys.argv[1])
