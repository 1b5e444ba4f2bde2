"""Publishing many entries at once (bns/bulk.py) over a real DHT on 127.0.0.1: the same
records and indexes as publishing them one by one, each badge listed once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from badgechain.bns.bulk import publish_many
from badgechain.bns.index import ISSUER_PAGE_ITEMS
from badgechain.bns.service import NameService
from badgechain.chain.keys import KeyPair
from badgechain.storage import MemoryStore
from tests.bns.network import Network, make_badge_entry

ALICE = KeyPair.from_seed(bytes(range(32)))  # the issuer
BOB = KeyPair.from_seed(bytes(range(1, 33)))  # an earner
CAROL = KeyPair.from_seed(bytes(range(2, 34)))  # another earner


@pytest.fixture
async def net() -> AsyncIterator[Network]:
    network = Network()
    try:
        await network.start(5)
        yield network
    finally:
        await network.stop()


async def test_many_entries_resolve_and_each_is_listed_once(net: Network) -> None:
    names = NameService(net.nodes[0], MemoryStore())
    # One badge the usual way first: the bulk path goes on from the page it started.
    single = make_badge_entry(ALICE, BOB)
    await names.publish(ALICE, single)
    entries = [make_badge_entry(ALICE, BOB if n % 4 else CAROL) for n in range(40)]
    entries.append(make_badge_entry(ALICE, None))  # an email-only badge: no earner index
    async with asyncio.timeout(60):
        assert await publish_many(names, ALICE, [*entries, single]) == {}
        reader = NameService(net.nodes[3], MemoryStore())
        for entry in entries[::7]:
            assert (await reader.resolve(entry.uid)).entry == entry
        issued = await reader.list_by_issuer(ALICE.public_key)
        bobs = await reader.list_by_earner(BOB.public_key)
        carols = await reader.list_by_earner(CAROL.public_key)
    assert sorted(issued) == sorted(entry.uid for entry in [*entries, single])
    assert len(issued) == 42 and -(-42 // ISSUER_PAGE_ITEMS) <= 6
    assert bobs == carols == []  # each earner writes its own index, on accept (issue 14)


async def test_publishing_the_same_entries_again_lists_them_once(net: Network) -> None:
    names = NameService(net.nodes[1], MemoryStore())
    entries = [make_badge_entry(ALICE, BOB) for _ in range(10)]
    async with asyncio.timeout(60):
        assert await publish_many(names, ALICE, entries) == {}
        assert await publish_many(names, ALICE, entries[3:]) == {}  # a retry after a crash
        reader = NameService(net.nodes[4], MemoryStore())
        issued = await reader.list_by_issuer(ALICE.public_key)
        bobs = await reader.list_by_earner(BOB.public_key)
    assert sorted(issued) == sorted(entry.uid for entry in entries)
    assert bobs == []


async def test_sets_sharing_an_index_lock_are_each_listed_once(net: Network) -> None:
    names = NameService(net.nodes[2], MemoryStore())
    lock = asyncio.Lock()
    sets = [[make_badge_entry(ALICE, BOB) for _ in range(n)] for n in (9, 17, 5, 12)]
    async with asyncio.timeout(60):
        # Whoever holds the lock indexes every set waiting for it; each gets its own outcome.
        outcomes = await asyncio.gather(
            *(publish_many(names, ALICE, entries, index_lock=lock) for entries in sets)
        )
        assert outcomes == [{}, {}, {}, {}]
        assert await publish_many(names, ALICE, sets[1][:4], index_lock=lock) == {}  # again
        reader = NameService(net.nodes[4], MemoryStore())
        issued = await reader.list_by_issuer(ALICE.public_key)
    assert sorted(issued) == sorted(entry.uid for entries in sets for entry in entries)
