"""A lookup and the contacts that failed lately (bns/lookups.py `_first_choices`): on a busy
host one late answer marks a live replica as failed; when the asker knows fewer than k other
contacts, that replica is still asked, so a reachable value is found."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from badgechain.bns.record import Record, derive_dht_key
from badgechain.bns.values import address_of_key
from badgechain.chain.keys import KeyPair
from tests.bns.network import TEST_SETTINGS, Network, make_badge_entry

# No background pings: a liveness round would clear (or add) the failure the test sets up.
QUIET = replace(TEST_SETTINGS, liveness_interval=3600.0)


@pytest.fixture
async def network() -> AsyncIterator[Network]:
    net = Network(settings=QUIET)
    try:
        yield net
    finally:
        await net.stop()


async def test_a_replica_that_answered_late_once_is_still_asked(network: Network) -> None:
    await network.start(3)
    writer, holder, asker = network.nodes
    entry = make_badge_entry(KeyPair.generate(), KeyPair.generate())
    value = Record(entry).to_wire_bytes()
    address = address_of_key(derive_dht_key(entry.uid))
    async with asyncio.timeout(10):
        assert (await writer.store_value(value)).accepted == 2
    assert holder.held(address) == value
    await network.stop_node(0)  # the asker has not noticed: the writer still looks healthy
    asker.router.failed(holder.me.id)  # what one answer later than the RPC timeout leaves
    assert asker.protocol.suspect(holder.me.id)
    async with asyncio.timeout(10):
        result = await asker.fetch(address)
    assert result.value == value and result.holders == 1
