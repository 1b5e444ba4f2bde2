"""`badgechain log verify`: a stopped node's database tampered with in LevelDB, and a
running node's gateway, through click's CliRunner and as a real subprocess."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from badgechain.chain.keys import KeyPair
from badgechain.chain.nodelog import canonical_bytes, entry_hash
from badgechain.cli.common import EXIT_INVALID, EXIT_USAGE, EXIT_VALID, load_key
from badgechain.cli.main import main
from badgechain.node.config import DB_DIR
from badgechain.node.nodelog import HEAD_KEY, NodeLog, entry_key
from badgechain.storage import Kind, LevelStore
from tests.node.conftest import NodeNetwork

UID = "z" + "5" * 86
COUNT = 12


def clock() -> datetime:
    return datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A stopped node's home: a key, and a database holding a 12-entry log."""
    home = tmp_path / "node"
    made = CliRunner().invoke(main, ["--home", str(home), "keys", "new", "--no-passphrase"])
    assert made.exit_code == 0, made.output
    store = LevelStore(home / DB_DIR)
    try:
        log = NodeLog(store, load_key(home), clock)
        for start in range(0, COUNT, 4):
            with store.batch() as batch:
                for seq in range(start, start + 4):
                    log.append(batch, "issue", UID, {"n": seq})
    finally:
        store.close()
    return home


def verify(*args: str) -> Result:
    return CliRunner().invoke(main, ["log", "verify", *args])


def tamper(home: Path, change: Callable[[LevelStore], None]) -> None:
    store = LevelStore(home / DB_DIR)
    try:
        change(store)
    finally:
        store.close()


def read_entry(store: LevelStore, seq: int) -> dict[str, object]:
    raw = store.get(Kind.LOG, entry_key(seq))
    assert raw is not None
    entry: dict[str, object] = json.loads(raw)
    return entry


def test_an_untouched_log_is_ok(home: Path) -> None:
    result = verify("--home", str(home))
    assert result.exit_code == EXIT_VALID, result.output
    assert result.output.startswith(f"log ok: {COUNT} entries, head {COUNT - 1} ")
    as_json = json.loads(verify("--home", str(home), "--json").output)
    assert as_json["ok"] is True and as_json["count"] == COUNT


def edit_value(store: LevelStore) -> None:
    entry = read_entry(store, 5)
    entry["details"] = {"n": 500}
    store.put(Kind.LOG, entry_key(5), canonical_bytes(entry))


def delete_value(store: LevelStore) -> None:
    store.delete(Kind.LOG, entry_key(5))


def swap_values(store: LevelStore) -> None:
    third, fourth = store.get(Kind.LOG, entry_key(3)), store.get(Kind.LOG, entry_key(4))
    assert third is not None and fourth is not None
    store.put(Kind.LOG, entry_key(3), fourth)
    store.put(Kind.LOG, entry_key(4), third)


def cut_tail(store: LevelStore) -> None:
    for seq in range(9, COUNT):
        store.delete(Kind.LOG, entry_key(seq))


def garble_value(store: LevelStore) -> None:
    store.put(Kind.LOG, entry_key(7), b"\x00 not json")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (edit_value, "log invalid at entry 5: log_signature_invalid:"),
        (delete_value, "log invalid at entry 5: log_entry_missing:"),
        (swap_values, "log invalid at entry 3: log_reordered:"),
        (cut_tail, "log invalid at entry 9: log_truncated:"),
        (garble_value, "log invalid at entry 7: log_entry_invalid:"),
    ],
)
def test_tampering_in_leveldb_is_named(
    home: Path, change: Callable[[LevelStore], None], expected: str
) -> None:
    tamper(home, change)
    result = verify("--home", str(home))
    assert result.exit_code == EXIT_INVALID
    assert result.output.startswith(expected), result.output


def test_a_checkpoint_must_still_hold(home: Path) -> None:
    def hash_of(seq: int) -> str:
        store = LevelStore(home / DB_DIR)
        try:
            return entry_hash(read_entry(store, seq))
        finally:
            store.close()

    good = f"4:{hash_of(4)}"
    assert verify("--home", str(home), "--checkpoint", good).exit_code == EXIT_VALID
    wrong = verify("--home", str(home), "--checkpoint", f"4:{hash_of(5)}")
    assert wrong.exit_code == EXIT_INVALID
    assert wrong.output.startswith("log invalid at entry 4: log_checkpoint_mismatch:")
    assert verify("--home", str(home), "--checkpoint", "4:xyz").exit_code == EXIT_USAGE


def test_a_log_signed_by_another_key_than_the_homes_is_refused(home: Path) -> None:
    other = CliRunner().invoke(
        main, ["--home", str(home.parent / "other"), "keys", "new", "--no-passphrase"]
    )
    result = verify("--home", str(home), "--did", other.output.strip())
    assert result.exit_code == EXIT_INVALID
    assert result.output.startswith("log invalid at entry 0: log_signer_mismatch:")


def test_a_deleted_head_with_entries_is_refused(home: Path) -> None:
    tamper(home, lambda store: store.delete(Kind.LOG, HEAD_KEY))
    result = verify("--home", str(home))
    assert result.exit_code == EXIT_INVALID and "log_head_invalid" in result.output


def test_a_running_nodes_locked_database_points_to_the_url(home: Path) -> None:
    store = LevelStore(home / DB_DIR)  # as a running node holds it
    try:
        result = CliRunner().invoke(main, ["log", "verify", "--home", str(home)])
    finally:
        store.close()
    assert result.exit_code == EXIT_USAGE
    assert "in use" in result.output and "badgechain log verify" in result.output


def test_usage_errors(home: Path, tmp_path: Path) -> None:
    assert verify("http://127.0.0.1:1", "--home", str(home)).exit_code == EXIT_USAGE
    assert verify("ftp://example.org").exit_code == EXIT_USAGE
    assert verify("--home", str(tmp_path / "nowhere")).exit_code == EXIT_USAGE


def test_log_verify_as_a_real_subprocess(home: Path) -> None:
    command = [sys.executable, "-m", "badgechain.cli", "--home", str(home), "log", "verify"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == EXIT_VALID, done.stderr
    assert done.stdout.startswith(f"log ok: {COUNT} entries")


async def test_log_verify_url_against_a_running_node(tmp_path: Path) -> None:
    network = NodeNetwork(tmp_path)
    try:
        (node,) = await network.start(1)
        log = node.log
        for _ in range(3):  # more than one page of 1000 would be slow; paging is tested in
            with node.store.batch() as batch:  # tests/node/test_log.py
                for seq in range(5):
                    log.append(batch, "move", UID, {"n": seq})
        result = await asyncio.to_thread(verify, node.gateway_url)
        assert result.exit_code == EXIT_VALID, result.output
        assert result.output.startswith("log ok: 15 entries, head 14 ")
        stranger = KeyPair.generate().did
        wrong_signer = await asyncio.to_thread(verify, node.gateway_url, "--did", stranger)
        assert wrong_signer.exit_code == EXIT_INVALID
        assert "log_signer_mismatch" in wrong_signer.output
    finally:
        await network.stop()


def test_log_verify_url_with_no_node_is_indeterminate() -> None:
    result = verify("http://127.0.0.1:9")
    assert result.exit_code == 3 and "node_unreachable" in result.output


def test_log_open_shows_a_sealed_entry_to_its_owner(home: Path) -> None:
    def add_private(store: LevelStore) -> None:
        log = NodeLog(store, load_key(home), clock)
        with store.batch() as batch:
            log.append(batch, "collection", "link-only-I-know", {"name": "Mine", "badges": 1})

    tamper(home, add_private)
    assert verify("--home", str(home)).exit_code == EXIT_VALID  # sealed entries verify
    result = CliRunner().invoke(main, ["log", "open", str(COUNT), "--home", str(home)])
    assert result.exit_code == 0, result.output
    opened = json.loads(result.output)
    assert (opened["sealed"], opened["action"], opened["subject"]) == (
        True,
        "collection",
        "link-only-I-know",
    )
    store = LevelStore(home / DB_DIR)
    try:
        assert read_entry(store, COUNT)["action"] == "sealed"
        assert b"link-only-I-know" not in json.dumps(read_entry(store, COUNT)).encode()
    finally:
        store.close()
    missing = CliRunner().invoke(main, ["log", "open", str(COUNT + 1), "--home", str(home)])
    assert missing.exit_code != 0 and "log_entry_not_found" in missing.output
    assert CliRunner().invoke(main, ["log", "open", "-1", "--home", str(home)]).exit_code == 2
