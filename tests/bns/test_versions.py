"""Wire version 1 (ids without a puzzle) and version 2 nodes never mix (issue 17 item 6a);
version 2 nodes from before the typed messages (issue 12) and today's work as one network.

The old nodes are `bns/dht.py` as it was at a commit of the project's git history, so they
are the real thing; the tests are skipped where that history is absent.
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from badgechain.bns.record import Record
from badgechain.bns.values import BnsValues
from badgechain.chain.keys import KeyPair
from badgechain.storage import MemoryStore
from tests.bns.network import TEST_SETTINGS

LAST_V1_COMMIT = "ffba9f4"  # bns/dht.py as it was before wire version 2
LAST_UNTYPED_V2_COMMIT = "888f199"  # bns/dht.py before bns/messages.py and bns/lookup.py
ROOT = Path(__file__).resolve().parents[2]


def load_v1() -> ModuleType:
    return load_dht(LAST_V1_COMMIT, "_dht_v1")


def load_dht(commit: str, name: str) -> ModuleType:
    try:
        source = subprocess.run(
            ["git", "show", f"{commit}:bns/dht.py"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip(f"the git history holding bns/dht.py at {commit} is not available")
    spec = importlib.util.spec_from_loader(f"badgechain.bns.{name}", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    exec(compile(source, f"bns/dht.py@{commit}", "exec"), module.__dict__)  # noqa: S102
    return module


async def test_version_1_and_2_nodes_drop_each_others_datagrams() -> None:
    v1 = load_v1()
    from badgechain.bns.dht import DhtNode

    old: Any = v1.DhtNode(
        KeyPair.generate().public_key,
        MemoryStore(),
        BnsValues(),
        v1.DhtSettings(rpc_timeout=0.3, liveness_interval=0.5),
    )
    new = DhtNode(KeyPair.generate().public_key, MemoryStore(), BnsValues(), TEST_SETTINGS)
    await old.listen(0)
    await new.listen(0)
    try:
        async with asyncio.timeout(10):
            assert await new.bootstrap([old.address]) == 0
            assert await old.bootstrap([new.address]) == 0
        assert new.stats["datagrams_old_version"] >= 1
        assert old.stats["datagrams_dropped"] >= 1
        assert new.contact_count() == old.contact_count() == 0
    finally:
        await old.stop()
        await new.stop()


async def test_version_2_nodes_before_and_after_the_typed_messages_form_one_network() -> None:
    old_dht = load_dht(LAST_UNTYPED_V2_COMMIT, "_dht_v2_untyped")
    from badgechain.bns.dht import DhtNode
    from tests.bns.network import make_badge_entry

    old_settings = old_dht.DhtSettings(
        rpc_timeout=0.5, liveness_interval=0.5, id_difficulty=TEST_SETTINGS.id_difficulty
    )
    nodes: list[Any] = []
    for index in range(8):
        kind, settings = (old_dht.DhtNode, old_settings) if index % 2 else (DhtNode, TEST_SETTINGS)
        node = kind(KeyPair.generate().public_key, MemoryStore(), BnsValues(), settings)
        await node.listen(0)
        nodes.append(node)
    try:
        async with asyncio.timeout(30):
            for node in nodes[1:]:
                await node.bootstrap([nodes[0].address])
            issuer = KeyPair.generate()
            for writer, reader in ((nodes[2], nodes[5]), (nodes[3], nodes[6])):  # new→old, old→new
                value = Record(make_badge_entry(issuer, None)).to_wire_bytes()
                result = await writer.publish(value)
                assert result.done and result.accepted == len(nodes) - 1
                fetched = await reader.fetch(BnsValues().address_of(value))
                assert fetched.value == value and fetched.holders >= 5
        for node in nodes:
            assert node.contact_count() == len(nodes) - 1
            assert node.stats["datagrams_dropped"] == 0
    finally:
        for node in nodes:
            await node.stop()
