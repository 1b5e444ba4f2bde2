"""The BNS Python API over a real DHT on 127.0.0.1: what the node will call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from badgechain.bns.dht import DhtNode
from badgechain.bns.errors import NotFound, RecordError
from badgechain.bns.index import EARNER_PAGE_ITEMS, ISSUER_PAGE_ITEMS
from badgechain.bns.record import Uid
from badgechain.bns.service import NameService
from badgechain.bns.values import BnsValues
from badgechain.chain.keys import KeyPair
from badgechain.chain.resolve import Unreachable
from badgechain.storage import MemoryStore
from tests.bns.network import TEST_SETTINGS, Network, make_badge_entry

ALICE = KeyPair.from_seed(bytes(range(32)))  # the issuer
BOB = KeyPair.from_seed(bytes(range(1, 33)))  # the earner
MALLORY = KeyPair.from_seed(bytes(range(2, 34)))  # a stranger


@pytest.fixture
async def net() -> AsyncIterator[Network]:
    network = Network()
    try:
        await network.start(12)
        yield network
    finally:
        await network.stop()


def service(net: Network, index: int) -> NameService:
    return NameService(net.nodes[index], MemoryStore())


async def test_published_entry_resolves_and_is_listed_from_other_nodes(net: Network) -> None:
    entry = make_badge_entry(ALICE, BOB)
    result = await service(net, 0).publish(ALICE, entry)
    assert result.record.accepted >= 10 and (result.issuer_page, result.earner_page) == (0, 0)

    reader = service(net, 7)
    record = await reader.resolve(entry.uid)
    assert record.entry == entry and record.location is None and record.revocation is None
    assert await reader.list_by_issuer(ALICE.public_key) == [entry.uid]
    assert await reader.list_by_earner(BOB.public_key) == [entry]
    assert await reader.list_by_issuer(BOB.public_key) == []


async def test_location_set_moved_and_hidden_by_the_earner_only(net: Network) -> None:
    entry = make_badge_entry(ALICE, BOB)
    await service(net, 0).publish(ALICE, entry)
    earner = service(net, 3)

    await earner.set_location(BOB, entry.uid, ["https://bob.example/badges/1"])
    seen = await service(net, 9).resolve(entry.uid)
    assert seen.location is not None and seen.location.urls == ("https://bob.example/badges/1",)

    await earner.set_location(BOB, entry.uid, ["https://bob.example/moved"])
    moved = await service(net, 10).resolve(entry.uid)
    assert moved.location is not None and moved.location.urls == ("https://bob.example/moved",)
    assert moved.location.seq == seen.location.seq + 1

    for stranger in (MALLORY, ALICE):  # not even the issuer moves an earner's badge
        with pytest.raises(RecordError) as caught:
            await service(net, 5).set_location(stranger, entry.uid, ["https://evil.example/"])
        assert caught.value.code == "not_location_writer"

    await earner.hide(BOB, entry.uid)
    hidden = await service(net, 11).resolve(entry.uid)
    assert hidden.location is not None and hidden.location.urls == ()


async def test_two_quick_moves_never_reuse_a_seq(net: Network) -> None:
    entry = make_badge_entry(ALICE, BOB)
    await service(net, 0).publish(ALICE, entry)
    earner = service(net, 4)
    first = await earner.set_location(BOB, entry.uid, ["https://bob.example/a"])
    second = await earner.set_location(BOB, entry.uid, ["https://bob.example/b"])
    assert first.location and second.location and second.location.seq > first.location.seq
    final = await service(net, 8).resolve(entry.uid)
    assert final.location == second.location


async def test_revocation_by_the_issuer_only_and_it_sticks(net: Network) -> None:
    entry = make_badge_entry(ALICE, BOB)
    await service(net, 0).publish(ALICE, entry)
    for stranger in (BOB, MALLORY):
        with pytest.raises(RecordError) as caught:
            await service(net, 2).revoke(stranger, entry.uid, "no", 2)
        assert caught.value.code == "not_issuer"

    await service(net, 1).revoke(ALICE, entry.uid, "issued in error", 5)
    # A later location update by the earner keeps the revocation.
    await service(net, 3).set_location(BOB, entry.uid, ["https://bob.example/x"])
    record = await service(net, 6).resolve(entry.uid)
    assert record.revocation is not None and record.revocation.reason == "issued in error"
    assert record.location is not None


async def test_unknown_uid_is_not_found_and_a_lonely_node_is_unreachable(net: Network) -> None:
    with pytest.raises(NotFound) as caught:
        await service(net, 5).resolve(Uid(bytes(64)))
    assert caught.value.code == "bns_not_found"

    lonely = DhtNode(KeyPair.generate().public_key, MemoryStore(), BnsValues(), TEST_SETTINGS)
    await lonely.listen()
    try:
        with pytest.raises(Unreachable) as unreachable:
            await NameService(lonely, MemoryStore()).resolve(Uid(bytes(64)))
        assert unreachable.value.code == "dht_unreachable"
    finally:
        await lonely.stop()


async def test_indexes_page_and_two_issuers_share_an_earner_index(net: Network) -> None:
    count = 2 * ISSUER_PAGE_ITEMS + 3
    alice, carol = service(net, 0), service(net, 1)
    carol_key = KeyPair.from_seed(bytes(range(3, 35)))
    alice_entries = [make_badge_entry(ALICE, BOB) for _ in range(count)]
    carol_entries = [make_badge_entry(carol_key, BOB) for _ in range(count)]

    async def issue_all(svc: NameService, issuer: KeyPair, entries: list) -> None:  # type: ignore[type-arg]
        for entry in entries:
            await svc.publish(issuer, entry)

    # Two issuers write into one earner's index at the same time.
    await asyncio.gather(
        issue_all(alice, ALICE, alice_entries), issue_all(carol, carol_key, carol_entries)
    )
    # Writers racing for the last places of a page can push each other's items out; the
    # issuers' reconcile round (run with republishing) puts them back on later pages.
    for _ in range(4):
        moved = await alice.reconcile_indexes(ALICE) + await carol.reconcile_indexes(carol_key)
        if moved == 0:
            break
    assert moved == 0
    reader = service(net, 9)
    assert sorted(await reader.list_by_issuer(ALICE.public_key)) == sorted(
        e.uid for e in alice_entries
    )
    assert len((await reader.issuer_page(ALICE.public_key, 2)).items) == 3
    listed = await reader.list_by_earner(BOB.public_key)
    assert sorted(e.uid for e in listed) == sorted(e.uid for e in alice_entries + carol_entries)
    pages = [await reader.earner_page(BOB.public_key, n) for n in range(len(listed))]
    used = [page for page in pages if page.entries]
    assert all(len(page.entries) <= EARNER_PAGE_ITEMS for page in used)
    assert len(used) >= -(-2 * count // EARNER_PAGE_ITEMS)


async def test_readers_of_one_uid_at_once_share_one_lookup(
    net: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = make_badge_entry(ALICE, BOB)
    await service(net, 0).publish(ALICE, entry)
    reader = service(net, 5)
    fetches = 0
    fetch = reader.dht.fetch

    async def counted(address: bytes) -> object:
        nonlocal fetches
        fetches += 1
        return await fetch(address)

    monkeypatch.setattr(reader.dht, "fetch", counted)
    records = await asyncio.gather(*(reader.resolve(entry.uid) for _ in range(16)))
    assert fetches == 1 and all(record.entry == entry for record in records)
    # No answer outlives its lookup: the next reader asks the network again and sees a
    # revocation made meanwhile.
    await service(net, 0).revoke(ALICE, entry.uid, "cheated", 1)
    assert (await reader.resolve(entry.uid)).revocation is not None
    assert fetches == 2
