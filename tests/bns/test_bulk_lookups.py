"""How many lookups a bulk publish makes (bns/bulk.py): one for a whole burst when the network
is smaller than a replica set, one a write otherwise; the same records either way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from badgechain.bns.bulk import publish_many
from badgechain.bns.dht import Contact, DhtNode
from badgechain.bns.index import ISSUER_PAGE_ITEMS
from badgechain.bns.service import _PLACED, NameService
from badgechain.chain.keys import KeyPair
from badgechain.storage import Kind, MemoryStore
from tests.bns.network import TEST_SETTINGS, Network, make_badge_entry

ALICE = KeyPair.from_seed(bytes(range(32)))
BOB = KeyPair.from_seed(bytes(range(1, 33)))


def count_lookups(node: DhtNode) -> list[bytes]:
    """Record each address `node` looks replicas up for (the real lookup still runs)."""
    asked: list[bytes] = []
    real = node.find_replicas

    async def find_replicas(address: bytes) -> list[Contact]:
        asked.append(address)
        return await real(address)

    node.find_replicas = find_replicas  # type: ignore[method-assign]
    return asked


async def started(network: Network, count: int) -> Network:
    await network.start(count)
    return network


@pytest.fixture
async def small() -> AsyncIterator[Network]:
    network = Network()  # 4 nodes, k = 20: every node is a replica of every address
    try:
        yield await started(network, 4)
    finally:
        await network.stop()


@pytest.fixture
async def large() -> AsyncIterator[Network]:
    network = Network(settings=replace(TEST_SETTINGS, ksize=3))  # 6 nodes, k = 3
    try:
        yield await started(network, 6)
    finally:
        await network.stop()


async def publish_and_read(net: Network, count: int) -> tuple[list[bytes], int]:
    names = NameService(net.nodes[0], MemoryStore())
    asked = count_lookups(net.nodes[0])
    entries = [make_badge_entry(ALICE, BOB) for _ in range(count)]
    async with asyncio.timeout(60):
        assert await publish_many(names, ALICE, entries) == {}
        reader = NameService(net.nodes[-1], MemoryStore())
        for entry in entries[::5]:
            assert (await reader.resolve(entry.uid)).entry == entry
        issued = await reader.list_by_issuer(ALICE.public_key)
    assert sorted(issued) == sorted(entry.uid for entry in entries)
    return asked, len(entries)


async def test_a_network_smaller_than_a_replica_set_is_looked_up_once_a_burst(
    small: Network,
) -> None:
    asked, count = await publish_and_read(small, 30)
    assert len(asked) == 2  # the entries' burst, then the index pages' burst
    # Each index page read once; none read back, as every replica took every page.
    assert small.nodes[0].stats["fetches"] == -(-count // ISSUER_PAGE_ITEMS)
    stored = [node.stats["stores_accepted"] for node in small.nodes[1:]]
    assert min(stored) >= 30  # and every other node took every entry


async def test_a_larger_network_looks_each_write_up(large: Network) -> None:
    asked, count = await publish_and_read(large, 12)
    assert len(asked) > count  # the burst's first lookup, then one a write


async def test_reconciling_reads_each_page_once_and_clears_what_settled(small: Network) -> None:
    names = NameService(small.nodes[0], MemoryStore())
    entries = [make_badge_entry(ALICE, BOB) for _ in range(20)]
    async with asyncio.timeout(60):
        assert await publish_many(names, ALICE, entries) == {}
        placed = list(names.store.scan(Kind.JOURNAL, _PLACED))
        before = small.nodes[0].stats["fetches"]
        assert await names.reconcile_indexes(ALICE) == 0
    assert len(placed) == 20  # every placement was checked...
    pages = -(-20 // ISSUER_PAGE_ITEMS)
    assert small.nodes[0].stats["fetches"] - before == pages  # ...reading each page once
    assert list(names.store.scan(Kind.JOURNAL, _PLACED)) == []
