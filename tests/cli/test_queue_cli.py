"""`badgechain queue list|retry|drop` against a running node's admin API."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner, Result

from badgechain.chain.keys import KeyPair
from badgechain.chain.uid import Uid, uid_text
from badgechain.cli.main import main
from tests.node.conftest import NodeNetwork


def _queue(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), "queue", *args])


async def test_queue_list_retry_and_drop(tmp_path: Path) -> None:
    network = NodeNetwork(tmp_path)
    try:
        (node,) = await network.start(1)
        home = network.write_cli_home(node)
        node.enqueue("batch", b"gone", delay_s=3600)  # a batch no one has: it would fail
        uid = KeyPair.generate().sign(b"a badge no one has")
        node.enqueue("publish", uid, delay_s=3600)
        listed = await asyncio.to_thread(_queue, home, "list")
        assert listed.exit_code == 0, listed.output
        # Items are named as people write them (issue 16 item 9): a UID, not its hex.
        lines = listed.output.splitlines()
        assert any(line.startswith("batch:gone  attempts=0  due 20") for line in lines), lines
        assert any(line.startswith(f"publish:{uid_text(Uid(uid))}  ") for line in lines), lines
        assert "reconcile:indexes" in listed.output and uid.hex() not in listed.output
        retried = await asyncio.to_thread(_queue, home, "retry", "batch:gone")
        assert retried.exit_code == 0, retried.output
        by_uid = await asyncio.to_thread(_queue, home, "drop", f"publish:{uid_text(Uid(uid))}")
        assert by_uid.exit_code == 0, by_uid.output
        # The hex id names an item too.
        dropped = await asyncio.to_thread(_queue, home, "drop", "reconcile:" + b"indexes".hex())
        assert dropped.exit_code == 0, dropped.output
        missing = await asyncio.to_thread(_queue, home, "drop", "publish:00")
        assert missing.exit_code != 0 and "queue_item_not_found" in missing.output
    finally:
        await network.stop()
