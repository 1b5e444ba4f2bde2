"""A proven writer's valid STOREs are paid back (bns/guard.py `credit_store`): a batch's
publisher is not throttled like a flood, while replays and unproven sources still are."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from badgechain.bns.guard import AddressGuard, GuardSettings
from badgechain.bns.record import Record
from badgechain.chain.keys import KeyPair
from tests.bns.network import TEST_SETTINGS, Network, make_badge_entry

ISSUER = KeyPair.from_seed(bytes(range(32)))
SOURCE = ("127.0.0.1", 4000)


def tight(credits_per_s: float = 1000.0, credit_burst: float = 2000.0) -> AddressGuard:
    return AddressGuard(
        GuardSettings(
            proven_requests_per_s=0.0,  # no refill: only credits give requests back
            proven_burst=5.0,
            proven_store_credits_per_s=credits_per_s,
            proven_store_credit_burst=credit_burst,
        )
    )


def test_a_credited_store_gives_its_request_back() -> None:
    guard = tight()
    guard.prove(SOURCE, 0.0)
    for _ in range(50):  # far past the burst of 5: each request a store that added a value
        assert guard.allow_request(SOURCE, 0.0)
        guard.credit_store(SOURCE, 0.0)
    assert [guard.allow_request(SOURCE, 0.0) for _ in range(6)] == [True] * 5 + [False]


def test_credits_never_lift_the_bucket_past_its_burst() -> None:
    guard = tight()
    guard.prove(SOURCE, 0.0)
    for _ in range(100):
        guard.credit_store(SOURCE, 0.0)  # paid back with nothing spent
    assert sum(guard.allow_request(SOURCE, 0.0) for _ in range(20)) == 5


def test_credits_run_out_at_their_own_rate() -> None:
    guard = tight(credits_per_s=10.0, credit_burst=3.0)
    guard.prove(SOURCE, 0.0)
    allowed = 0
    for _ in range(20):
        if guard.allow_request(SOURCE, 0.0):
            allowed += 1
            guard.credit_store(SOURCE, 0.0)
    assert allowed == 5 + 3  # the burst, then three paid back
    assert guard.allow_request(SOURCE, 0.0) is False
    guard.credit_store(SOURCE, 0.1)  # one credit refilled by 0.1 s at 10 a second
    assert guard.allow_request(SOURCE, 0.1)


def test_an_unproven_source_gets_no_credit() -> None:
    guard = AddressGuard(GuardSettings(unproven_requests_per_s=0.0, unproven_burst=3.0))
    for _ in range(3):
        assert guard.allow_request(SOURCE, 0.0)
        guard.credit_store(SOURCE, 0.0)  # may be forged: no credit
    assert not guard.allow_request(SOURCE, 0.0)


SLOW = replace(
    TEST_SETTINGS,
    guard=GuardSettings(proven_requests_per_s=1.0, proven_burst=20.0),
)


@pytest.fixture
async def pair() -> AsyncIterator[Network]:
    network = Network(settings=SLOW)
    try:
        await network.start(2)
        yield network
    finally:
        await network.stop()


async def test_a_writer_stores_past_the_burst_but_a_replayer_does_not(pair: Network) -> None:
    writer, storer = pair.nodes
    (contact,) = writer.contacts()
    values = [Record(make_badge_entry(ISSUER, None)).to_wire_bytes() for _ in range(60)]
    async with asyncio.timeout(30):
        for value in values:  # three times the burst, each a new valid value: all served
            address = writer.policy.address_of(value)
            assert await writer.protocol.request(contact, "store", address, value) == (True, "ok")
        assert storer.stats["requests_rate_limited"] == 0
        replayed = [
            await writer.protocol.request(contact, "store", writer.policy.address_of(v), v)
            for v in values[:30]  # held already: nothing added, nothing paid back
        ]
    assert storer.stats["requests_rate_limited"] > 0
    assert sum(ok for ok, _ in replayed) < len(replayed)
