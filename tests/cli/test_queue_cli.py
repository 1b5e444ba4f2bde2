"""`badgechain queue list|retry|drop` against a running node's admin API."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner, Result

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
        item_id = "batch:" + b"gone".hex()
        listed = await asyncio.to_thread(_queue, home, "list")
        assert listed.exit_code == 0, listed.output
        assert item_id in listed.output and "reconcile:" in listed.output
        retried = await asyncio.to_thread(_queue, home, "retry", item_id)
        assert retried.exit_code == 0, retried.output
        dropped = await asyncio.to_thread(_queue, home, "drop", "reconcile:" + b"indexes".hex())
        assert dropped.exit_code == 0, dropped.output
        missing = await asyncio.to_thread(_queue, home, "drop", "publish:00")
        assert missing.exit_code != 0 and "queue_item_not_found" in missing.output
    finally:
        await network.stop()
