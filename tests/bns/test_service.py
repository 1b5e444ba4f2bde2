"""The BNS Python API over a real DHT on 127.0.0.1: what the node will call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from badgechain.bns.dht import DhtNode
from badgechain.bns.earner_index import index_as_earner
from badgechain.bns.errors import NotFound, RecordError
from badgechain.bns.index import EARNER_PAGE_ITEMS, ISSUER_PAGE_ITEMS
from badgechain.bns.record import Uid, derive_dht_key
from badgechain.bns.service import NameService
from badgechain.bns.values import BnsValues, address_of_key
from badgechain.chain.keys import KeyPair
from badgechain.chain.resolve import Unreachable
from badgechain.storage import Kind, MemoryStore
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
    assert result.record.accepted >= 10 and (result.issuer_page, result.earner_page) == (0, None)

    reader = service(net, 7)
    record = await reader.resolve(entry.uid)
    assert record.entry == entry and record.location is None and record.revocation is None
    assert await reader.list_by_issuer(ALICE.public_key) == [entry.uid]
    assert await reader.list_by_earner(BOB.public_key) == []  # the earner's to write (accept)
    assert await index_as_earner(service(net, 3), BOB, entry, 1) == 0
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

    await asyncio.gather(
        issue_all(alice, ALICE, alice_entries), issue_all(carol, carol_key, carol_entries)
    )
    # The earner accepts both issuers' badges from two of its nodes at once (issue 14 item
    # 4: only it writes its index). Writers racing for the last places of a page can push
    # each other's items out; the reconcile round (run with republishing) puts them back.
    bob_here, bob_there = service(net, 2), service(net, 3)

    async def accept_all(svc: NameService, entries: list) -> None:  # type: ignore[type-arg]
        for entry in entries:
            await index_as_earner(svc, BOB, entry, 1)

    await asyncio.gather(accept_all(bob_here, alice_entries), accept_all(bob_there, carol_entries))
    for _ in range(4):
        moved = await alice.reconcile_indexes(ALICE) + await carol.reconcile_indexes(carol_key)
        moved += await bob_here.reconcile_indexes(BOB) + await bob_there.reconcile_indexes(BOB)
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


class FakeClock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counted_fetches(reader: NameService, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The addresses `reader`'s DHT fetches from now on, in order."""
    fetched: list[bytes] = []
    fetch = reader.dht.fetch

    async def counted(address: bytes) -> object:
        fetched.append(address)
        return await fetch(address)

    monkeypatch.setattr(reader.dht, "fetch", counted)
    return fetched


async def test_readers_of_one_uid_at_once_share_one_lookup(
    net: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = make_badge_entry(ALICE, BOB)
    await service(net, 0).publish(ALICE, entry)
    reader = service(net, 5)
    fetches = counted_fetches(reader, monkeypatch)
    records = await asyncio.gather(*(reader.resolve(entry.uid) for _ in range(16)))
    assert len(fetches) == 1 and all(record.entry == entry for record in records)
    # A revocation made meanwhile reaches the reader's own replica copy, and its next answer
    # carries it at once, without a lookup.
    await service(net, 0).revoke(ALICE, entry.uid, "cheated", 1)
    assert (await reader.resolve(entry.uid)).revocation is not None
    assert len(fetches) == 1


async def test_an_answer_is_reused_until_its_ttl_then_asked_again(
    net: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = make_badge_entry(ALICE, BOB)
    await service(net, 0).publish(ALICE, entry)
    clock = FakeClock()
    reader = NameService(net.nodes[6], MemoryStore(), answer_ttl_s=2.0, clock=clock)
    fetches = counted_fetches(reader, monkeypatch)

    for _ in range(5):
        assert (await reader.resolve(entry.uid)).entry == entry
    clock.now += 1.9
    await reader.resolve(entry.uid)
    assert len(fetches) == 1
    clock.now += 0.2  # past the TTL
    await reader.resolve(entry.uid)
    assert len(fetches) == 2


async def test_a_revocation_seen_is_never_forgotten(
    net: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replicas that answer an older, unrevoked copy (rolled back, or an eclipse) after this
    node saw the revocation do not make it serve the badge as unrevoked."""
    entry = make_badge_entry(ALICE, BOB)
    await service(net, 0).publish(ALICE, entry)
    clock = FakeClock()
    reader = NameService(net.nodes[6], MemoryStore(), clock=clock)
    unrevoked = await reader.resolve(entry.uid)
    await service(net, 0).revoke(ALICE, entry.uid, "cheated", 1)
    assert (await reader.resolve(entry.uid)).revocation is not None

    address = address_of_key(derive_dht_key(entry.uid))
    for store in net.stores:  # every replica forgets it (written as a bad replica would)
        if store.get(Kind.BNS_RECORD, address) is not None:
            store.put(Kind.BNS_RECORD, address, unrevoked.to_wire_bytes())
        store.delete(Kind.PUBLISHED, address)
    clock.now += 60.0
    fetches = counted_fetches(reader, monkeypatch)
    again = await reader.resolve(entry.uid)
    assert len(fetches) == 1  # the network was asked, and answered without the revocation
    assert again.revocation is not None and again.revocation.reason == "cheated"


async def test_a_local_move_and_revocation_show_at_once_on_the_writing_node(
    net: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = make_badge_entry(ALICE, BOB)
    await service(net, 0).publish(ALICE, entry)
    earner = NameService(net.nodes[3], MemoryStore(), clock=FakeClock())
    assert (await earner.resolve(entry.uid)).location is None
    await earner.set_location(BOB, entry.uid, ["https://bob.example/a"])
    fetches = counted_fetches(earner, monkeypatch)
    moved = await earner.resolve(entry.uid)
    assert moved.location is not None and moved.location.urls == ("https://bob.example/a",)
    assert fetches == []


async def test_only_the_earner_writes_its_earner_index(net: Network) -> None:
    entry = make_badge_entry(ALICE, BOB)
    with pytest.raises(RecordError) as raised:
        await index_as_earner(service(net, 3), MALLORY, entry, 1)
    assert raised.value.code == "index_wrong_writer"
