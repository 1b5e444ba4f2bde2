"""Thirty Sybil nodes ground next to one UID cannot hide its move and revocation (issue 17).

Honest nodes each sit on their own loopback IP (127.0.0.11…), the attackers all on
127.0.0.99, and the nodes count loopback IPs as hosts (`group_loopback_by_ip`), as a public
network counts IPs. The attackers' ids solve the id puzzle and share at least
`NEAR_BITS` leading bits with the UID's address, so they are the nearest nodes to it. They
acknowledge every STORE and keep nothing, answer reads with the record as it was before the
move, and answer `find_node` with one another.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from badgechain.bns.dht import Contact, DhtNode, node_id_of, solve_id_puzzle
from badgechain.bns.guard import GuardSettings
from badgechain.bns.puzzle import solves_id_puzzle
from badgechain.bns.record import Record, derive_dht_key
from badgechain.bns.service import NameService
from badgechain.bns.values import BnsValues, address_of_key
from badgechain.chain.keys import KeyPair
from badgechain.storage import Kind, MemoryStore
from tests.bns.network import TEST_SETTINGS, Network, make_badge_entry

pytestmark = pytest.mark.slow

ISSUER = KeyPair.from_seed(bytes(range(32)))
EARNER = KeyPair.from_seed(bytes(range(1, 33)))
HONEST = 8
ATTACKERS = 30
NEAR_BITS = 10  # honest ids share about log2(8) = 3 bits with any address
ATTACKER_HOST = "127.0.0.99"
SETTINGS = replace(
    TEST_SETTINGS,
    ksize=8,
    guard=GuardSettings(group_loopback_by_ip=True),
    republish_interval=3600.0,
)
DEADLINE_S = 60.0


def shared_bits(a: bytes, b: bytes) -> int:
    return len(a) * 8 - (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_length()


def ground_nonce(key: KeyPair, address: bytes) -> bytes:
    """A nonce that solves the puzzle and puts the id NEAR_BITS bits from `address`."""
    counter = 0
    while True:
        nonce = solve_id_puzzle(key.public_key, SETTINGS.id_difficulty, counter)
        if shared_bits(node_id_of(key.public_key, nonce), address) >= NEAR_BITS:
            return nonce
        counter = int.from_bytes(nonce, "big") + 1


async def start_attacker(address: bytes, old: bytes, seed: tuple[str, int]) -> DhtNode:
    key = KeyPair.generate()
    store = MemoryStore()
    store.put(Kind.JOURNAL, b"dht/id-nonce", key.public_key + ground_nonce(key, address))
    store.put(Kind.BNS_RECORD, address, old)
    node = DhtNode(key.public_key, store, BnsValues(), SETTINGS)
    await node.listen(0, ATTACKER_HOST)
    await node.bootstrap([seed])
    return node


def turn_hostile(node: DhtNode, gang: list[DhtNode], address: bytes, old: bytes) -> None:
    def swallow(sender: Contact, at: Any, value: Any) -> str:
        return "ok"

    def stale(sender: Contact, at: Any) -> Any:
        return {"value": old} if at == address else attract(sender, at)

    def attract(sender: Contact, at: Any) -> list[Any]:
        return [Contact(m.me.public_key, *m.address, m.me.nonce).to_wire() for m in gang][:8]

    node.protocol._handlers.update(store=swallow, find_value=stale, find_node=attract)


@pytest.fixture
async def honest() -> AsyncIterator[Network]:
    hosts = [f"127.0.0.{11 + i}" for i in range(HONEST + 1)]
    network = Network(settings=SETTINGS)
    try:
        await network.start(HONEST, hosts[:HONEST])
        yield network
    finally:
        await network.stop()


async def test_attackers_next_to_a_uid_do_not_hide_its_move_and_revocation(
    honest: Network,
) -> None:
    async with asyncio.timeout(DEADLINE_S):
        issuer, earner = NameService(honest.nodes[0], MemoryStore()), None
        entry = make_badge_entry(ISSUER, EARNER)
        address = address_of_key(derive_dht_key(entry.uid))
        await issuer.publish(ISSUER, entry)
        earner = NameService(honest.nodes[1], MemoryStore())
        before = await earner.set_location(EARNER, entry.uid, ["https://old.example/b"])
        old = before.to_wire_bytes()

        gang: list[DhtNode] = []
        try:
            for index in range(ATTACKERS):
                seed = honest.nodes[index % HONEST].address
                gang.append(await start_attacker(address, old, seed))
            for node in gang:
                turn_hostile(node, gang, address, old)
            assert all(shared_bits(n.me.id, address) >= NEAR_BITS for n in gang)
            assert all(solves_id_puzzle(n.me.public_key, n.me.nonce, 4) for n in gang)
            nearest = sorted(
                [*gang, *honest.live],
                key=lambda n: int.from_bytes(n.me.id, "big") ^ int.from_bytes(address, "big"),
            )
            assert set(nearest[:ATTACKERS]) == set(gang)  # every nearest place is theirs

            moved = await earner.set_location(EARNER, entry.uid, ["https://new.example/b"])
            revoked = await issuer.revoke(ISSUER, entry.uid, "issued in error", 10)
            assert moved.location is not None and revoked.revocation is not None
            for node in honest.live:  # the issuer's and the earner's own view included
                seen = await NameService(node, MemoryStore()).resolve(entry.uid)
                assert seen.revocation == revoked.revocation
                assert seen.location == moved.location
            newcomer = await honest.start_node(HONEST, host=f"127.0.0.{11 + HONEST}")
            await newcomer.bootstrap([honest.nodes[2].address])
            seen = await NameService(newcomer, MemoryStore()).resolve(entry.uid)
            assert seen.revocation is not None and seen.location == moved.location
        finally:
            for node in gang:
                await node.stop()

        # The attackers leave: one republish round, and every honest replica holds the record.
        for node in honest.live:
            await node.republish_once()
        current = Record(entry, moved.location, revoked.revocation).to_wire_bytes()
        closest = honest.closest_live(address, SETTINGS.ksize)
        assert [node.held(address) for node in closest] == [current] * len(closest)


async def test_a_contact_whose_id_puzzle_is_unsolved_is_refused(honest: Network) -> None:
    async with asyncio.timeout(DEADLINE_S):
        key = KeyPair.generate()
        nonce = next(
            n
            for n in (i.to_bytes(8, "big") for i in range(1000))
            if not solves_id_puzzle(key.public_key, n, SETTINGS.id_difficulty)
        )
        store = MemoryStore()
        store.put(Kind.JOURNAL, b"dht/id-nonce", key.public_key + nonce)
        cheat = DhtNode(key.public_key, store, BnsValues(), replace(SETTINGS, id_difficulty=0))
        await cheat.listen(0, ATTACKER_HOST)
        try:
            target = honest.nodes[3]
            assert await cheat.bootstrap([target.address]) == 0  # never answered
            assert target.stats["id_puzzle_invalid"] >= 1
            assert key.public_key not in {c.public_key for c in target.contacts()}
        finally:
            await cheat.stop()
