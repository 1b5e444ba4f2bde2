"""NameService.hand_over (node/claims.py's hand-over of an email badge): the issuer's own
answer cache sees the write at once, over a real DHT on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from badgechain.bns.errors import RecordError
from badgechain.bns.record import Record, derive_dht_key, make_handover
from badgechain.bns.service import NameService
from badgechain.bns.values import address_of_key
from badgechain.chain.keys import KeyPair
from badgechain.storage import Kind, MemoryStore
from tests.bns.network import Network, make_badge_entry
from tests.bns.test_service import FakeClock, counted_fetches

ALICE = KeyPair.from_seed(bytes(range(32)))  # the issuer of a badge for an email address
BOB = KeyPair.from_seed(bytes(range(1, 33)))  # the key that claimed it
CAROL = KeyPair.from_seed(bytes(range(3, 35)))  # another claimant, too late


@pytest.fixture
async def net() -> AsyncIterator[Network]:
    network = Network()
    try:
        await network.start(6)
        yield network
    finally:
        await network.stop()


async def test_the_issuer_sees_its_hand_over_at_once_and_others_see_it_too(
    net: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = NameService(net.nodes[0], MemoryStore(), clock=FakeClock())
    entry = make_badge_entry(ALICE, None)
    async with asyncio.timeout(30):
        await issuer.publish(ALICE, entry)
        before = await issuer.set_location(ALICE, entry.uid, ["https://alice.example/b"])
        assert before.location is not None and before.handover is None  # cached here

        handover = make_handover(ALICE, entry.uid, BOB.public_key)
        result = await issuer.hand_over(Record(entry, None, None, handover))
        assert result.accepted > 0
        # As on a node that is not one of the record's replicas: nothing held here shows it.
        net.stores[0].delete(Kind.BNS_RECORD, address_of_key(derive_dht_key(entry.uid)))
        fetches = counted_fetches(issuer, monkeypatch)
        seen = await issuer.resolve(entry.uid)
        assert fetches == []  # answered from the cache, which saw the write
        assert seen.handover == handover and seen.location is None  # the issuer's drops out

        elsewhere = await NameService(net.nodes[4], MemoryStore()).resolve(entry.uid)
        assert elsewhere.handover == handover


async def test_a_second_hand_over_to_another_key_is_refused(
    net: Network,
) -> None:
    issuer = NameService(net.nodes[0], MemoryStore(), clock=FakeClock())
    entry = make_badge_entry(ALICE, None)
    async with asyncio.timeout(30):
        await issuer.publish(ALICE, entry)
        first = make_handover(ALICE, entry.uid, BOB.public_key)
        assert (await issuer.hand_over(Record(entry, None, None, first))).accepted > 0
        second = make_handover(ALICE, entry.uid, CAROL.public_key)
        with pytest.raises(RecordError) as raised:  # refused here first: its own copy merges
            await issuer.hand_over(Record(entry, None, None, second))
        assert raised.value.code == "handover_conflict"
        assert (await issuer.resolve(entry.uid)).handover == first
        elsewhere = await NameService(net.nodes[4], MemoryStore()).resolve(entry.uid)
        assert elsewhere.handover == first
