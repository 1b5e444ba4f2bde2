"""A storing node's cap on what it holds (bns/held.py): past `max_held_values` or
`max_held_bytes`, values farthest from its id go first (evicted, or refused when the new one
is the farthest), an update of a held value (a revocation) is never refused, and what a
store held before the node started counts."""

from __future__ import annotations

from dataclasses import replace

from badgechain.bns.dht import DhtNode
from badgechain.bns.held import STORE_FULL
from badgechain.bns.record import Record, make_revocation
from badgechain.bns.values import BnsValues
from badgechain.chain.keys import KeyPair
from badgechain.storage import MemoryStore, Store
from tests.bns.network import TEST_SETTINGS, make_badge_entry
from tests.bns.test_dht import EARNER, ISSUER, address_of

KEY = KeyPair.from_seed(bytes(range(7, 39)))


def node(
    store: Store,
    *,
    max_held_values: int = TEST_SETTINGS.max_held_values,
    max_held_bytes: int = TEST_SETTINGS.max_held_bytes,
) -> DhtNode:
    caps = replace(TEST_SETTINGS, max_held_values=max_held_values, max_held_bytes=max_held_bytes)
    return DhtNode(KEY.public_key, store, BnsValues(), caps)


def by_distance(me: DhtNode, count: int) -> list[tuple[bytes, bytes, Record]]:
    """(address, wire, record) of fresh records, one per distance class from `me`, nearest
    first (every value of a class is farther than every value of a nearer one)."""
    found: dict[int, tuple[bytes, bytes, Record]] = {}
    while len(found) < count:
        entry = make_badge_entry(ISSUER, EARNER)
        address, record = address_of(entry), Record(entry)
        found.setdefault(me.holdings.class_of(address), (address, record.to_wire_bytes(), record))
    return [found[c] for c in sorted(found, reverse=True)[:count]][::-1]


async def test_past_the_count_the_farthest_value_goes_first() -> None:
    me = node(MemoryStore(), max_held_values=3)
    await me.holdings.count()
    near, middle, far, farther, farthest = by_distance(me, 5)
    for address, wire, _ in (middle, far, farther):
        assert me.accept_store(address, wire, None) == "ok"
    # Full: a nearer value gets in, and the farthest held leaves for it.
    assert me.accept_store(near[0], near[1], None) == "ok"
    assert me.held(farther[0]) is None and me.stats["values_evicted"] == 1
    # A value farther than everything held is refused, and counted.
    assert me.accept_store(farthest[0], farthest[1], None) == STORE_FULL
    assert me.held(farthest[0]) is None and me.stats["stores_full"] == 1
    # Full still, but the revocation of a value held is taken, evicting nothing.
    address, _, record = far
    revoked = Record(record.entry, None, make_revocation(ISSUER, record.entry.uid, "gone", 10))
    assert me.accept_store(address, revoked.to_wire_bytes(), None) == "ok"
    assert me.held(address) == revoked.to_wire_bytes()
    assert me.stats["values_evicted"] == 1
    assert me.holdings.held[0] == 3
    assert [me.held(a) is not None for a, _, _ in (near, middle, far)] == [True] * 3


async def test_past_the_bytes_the_farthest_values_make_room() -> None:
    me = node(MemoryStore())
    values = by_distance(me, 4)
    size = len(values[0][1])
    me = node(MemoryStore(), max_held_bytes=2 * size + size // 2)  # room for two of them
    await me.holdings.count()
    near, middle, far, farthest = by_distance(me, 4)
    for address, wire, _ in (middle, far):
        assert me.accept_store(address, wire, None) == "ok"
    assert me.accept_store(farthest[0], farthest[1], None) == STORE_FULL
    assert me.accept_store(near[0], near[1], None) == "ok"  # the farthest held makes room
    assert [me.held(a) is not None for a, _, _ in (near, middle, far)] == [True, True, False]
    assert me.holdings.held[1] <= me.settings.max_held_bytes


async def test_what_the_store_held_before_the_start_is_counted() -> None:
    store = MemoryStore()
    me = node(store, max_held_values=2)
    held = by_distance(me, 3)
    for address, wire, _ in held[1:]:
        me.accept_store(address, wire, None)  # not yet counted: no cap applies
    restarted = node(store, max_held_values=2)
    await restarted.holdings.count()
    assert restarted.holdings.held == (2, sum(len(w) for _, w, _ in held[1:]))
    near = held[0]
    assert restarted.accept_store(near[0], near[1], None) == "ok"
    assert restarted.held(held[2][0]) is None  # the farthest made room
