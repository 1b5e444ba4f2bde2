"""Acknowledged writes survive SIGKILL and no batch is ever half applied.

A child process (crash_writer.py) writes three-key records in batches and acknowledges each
on stdout; we kill it at a random moment, reopen the database and check what is there.
"""

from __future__ import annotations

import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# pytest puts this directory on sys.path (rootdir import mode); mypy is not told about it.
from crash_writer import NEXT_KEY, PARTS, record_value  # type: ignore[import-not-found]

from badgechain.storage import Kind, LevelStore, StorageError

WRITER = Path(__file__).with_name("crash_writer.py")
ROUNDS = 20
READY_TIMEOUT_S = 10.0


def _start_writer(db: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT_S)
        assert readable, "the writer did not start in time"
        line = proc.stdout.readline()
        assert line == "ready\n", f"the writer said {line!r} instead of ready"
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return proc


def _kill_and_collect_acks(proc: subprocess.Popen[str]) -> list[int]:
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=READY_TIMEOUT_S)
    assert proc.returncode == -signal.SIGKILL, f"writer exited by itself: {err}"
    return [int(line.split()[1]) for line in out.splitlines()]


def _check_records(db: Path, acked: list[int]) -> int:
    """Assert every acknowledged record is whole and no record is partial; return the count."""
    store = LevelStore(db)
    try:
        found: dict[int, dict[bytes, bytes]] = {}
        for key, value in store.scan(Kind.JOURNAL, b"rec/"):
            _, number, part = key.split(b"/")
            found.setdefault(int(number), {})[part] = value
        next_n = int(store.get(Kind.JOURNAL, NEXT_KEY) or b"0")
        # Every record's unsynced DHT value, written before it, is there too.
        dht = {key for key, _ in store.scan(Kind.BNS_RECORD, b"rec/")}
    finally:
        store.close()
    assert sorted(found) == list(range(next_n)), "records are not exactly 0 .. next-1"
    for n, parts in found.items():
        assert parts == {part: record_value(n, part) for part in PARTS}, f"record {n} is partial"
    assert set(acked) <= set(found), f"acknowledged but lost: {sorted(set(acked) - set(found))}"
    assert {b"rec/%08d/dht" % n for n in found} <= dht, "a DHT value before a record was lost"
    return next_n


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_acknowledged_batches_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "db"
    rng = random.Random(20261123)
    started = time.monotonic()
    total_acks = 0
    for _ in range(ROUNDS):
        proc = _start_writer(db)
        try:
            time.sleep(rng.uniform(0.02, 0.3))
            acked = _kill_and_collect_acks(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        total_acks += len(acked)
        assert _check_records(db, acked) >= total_acks
    assert total_acks >= ROUNDS, "the writer hardly wrote anything; the test proved nothing"
    elapsed = time.monotonic() - started
    print(f"{ROUNDS} kills, {total_acks} acknowledged records, {elapsed:.1f} s")
    assert elapsed < 50


def test_open_held_by_another_process_is_locked(tmp_path: Path) -> None:
    db = tmp_path / "db"
    proc = _start_writer(db)
    try:
        with pytest.raises(StorageError, match="in use by another process") as info:
            LevelStore(db)
        assert info.value.code == "storage_locked"
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
