"""Deliveries look an earner's inbox up once per `INBOX_TTL_S` (node/inbox_client.py), on a
real DHT on 127.0.0.1: a batch to one earner costs one lookup, not one a badge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from badgechain.bns.inbox import make_inbox_record
from badgechain.bns.inbox_records import InboxRecords
from badgechain.chain.keys import KeyPair
from badgechain.node.inbox_client import (
    INBOX_TTL_S,
    DeliveryError,
    find_inbox_cached,
    forget_inbox,
)
from tests.bns.network import Network

EARNER = KeyPair.from_seed(bytes(range(5, 37)))
NOBODY = KeyPair.from_seed(bytes(range(6, 38)))


@pytest.fixture
async def net() -> AsyncIterator[Network]:
    network = Network()
    try:
        await network.start(3)
        yield network
    finally:
        await network.stop()


async def test_an_inbox_is_looked_up_once_while_fresh(net: Network) -> None:
    dht = net.nodes[0]
    inboxes = InboxRecords(dht)
    record = make_inbox_record(EARNER, "https://earner.example/inbox", 1)
    async with asyncio.timeout(30):
        await net.nodes[1].publish(record.to_wire_bytes())
        found = await asyncio.gather(
            *(find_inbox_cached(inboxes, EARNER.public_key, now=100.0) for _ in range(20))
        )
        assert found == [record] * 20 and dht.stats["fetches"] == 1  # shared, then kept
        assert await find_inbox_cached(inboxes, EARNER.public_key, now=100.0 + INBOX_TTL_S - 1)
        assert dht.stats["fetches"] == 1
        await find_inbox_cached(inboxes, EARNER.public_key, now=100.0 + INBOX_TTL_S)
        assert dht.stats["fetches"] == 2  # stale: looked up again
        forget_inbox(inboxes, EARNER.public_key)  # a post to it failed
        await find_inbox_cached(inboxes, EARNER.public_key, now=100.0 + INBOX_TTL_S)
        assert dht.stats["fetches"] == 3


async def test_a_missing_inbox_is_not_remembered(net: Network) -> None:
    dht = net.nodes[0]
    inboxes = InboxRecords(dht)
    async with asyncio.timeout(30):
        for expected in (1, 2):
            with pytest.raises(DeliveryError) as raised:
                await find_inbox_cached(inboxes, NOBODY.public_key, now=0.0)
            assert raised.value.code == "inbox_unknown"
            assert dht.stats["fetches"] == expected
