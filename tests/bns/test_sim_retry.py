"""Reads and the routing table when answers go missing under load, on the simulated network
(bns/sim.py): a fetch whose first round gets no answer asks again with the contacts that
failed lately, so a reachable replica is found; requests sent into one silence count as one
miss; a late answer keeps its contact. Seeded and on virtual time: no sleeps."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from badgechain.bns.dht import DhtNode
from badgechain.bns.record import Record, Uid, make_entry
from badgechain.bns.sim import SimNetwork, run_simulated
from badgechain.bns.values import BnsValues
from badgechain.chain.resolve import Unreachable
from tests.bns.test_sim import ISSUER, SETTINGS, Cluster

Address = tuple[str, int]
# No background ping clears a miss; k = 8, so a 60-node network's tables hold more than k
# contacts besides the replicas.
QUIET = replace(SETTINGS, liveness_interval=3600.0, ksize=8, read_quorum=3)


def record(seed: int) -> bytes:
    """A valid record, the same for one seed whatever tests ran before."""
    signing_input = seed.to_bytes(64, "big")
    uid = Uid(ISSUER.sign(signing_input))
    return Record(make_entry(ISSUER, uid, signing_input, None, 1)).to_wire_bytes()


class FirstRoundLost(SimNetwork):
    """Loses every datagram `asker` sends until its fetch asks again: a burst of loss on its
    link (or its peers too busy to answer) that swallows a whole first round."""

    asker: DhtNode | None = None

    def send(self, data: bytes, source: Address, destination: Address) -> None:
        asker = self.asker
        if asker is not None and source == asker.address and not asker.stats["fetches_retried"]:
            self.stats["lost"] += 1
            return
        super().send(data, source, destination)


class Slow(SimNetwork):
    """Delays what `slow` sends by `extra` seconds: a peer too busy to answer in time."""

    slow: Address | None = None
    extra = 0.0

    def send(self, data: bytes, source: Address, destination: Address) -> None:
        if source == self.slow:
            asyncio.get_running_loop().call_later(
                self.extra, super().send, data, source, destination
            )
            return
        super().send(data, source, destination)


async def _published(cluster: Cluster, count: int) -> tuple[bytes, bytes]:
    await cluster.start(count)
    value = record(cluster.network.seed)
    assert (await cluster.nodes[0].publish(value)).done
    return value, BnsValues().address_of(value)


def test_a_fetch_whose_first_round_is_lost_asks_again_and_finds_the_record() -> None:
    async def main() -> None:
        network = FirstRoundLost(11)
        cluster = Cluster(network, QUIET)
        value, address = await _published(cluster, 40)
        asker = cluster.nodes[-1]
        network.asker = asker
        lost, known = network.stats["lost"], [c.id for c in asker.contacts()]
        result = await asker.fetch(address)
        assert result.value == value
        assert asker.stats["fetches_retried"] == 1
        assert network.stats["lost"] - lost >= QUIET.read_quorum  # the first round was real
        # Every contact it asked first missed once, and none left its table for that.
        assert all(asker.router.get(node_id) is not None for node_id in known)
        await cluster.stop()

    run_simulated(main, 11)


def test_lately_failed_replicas_are_asked_when_every_healthy_contact_is_silent() -> None:
    async def main() -> None:
        network = SimNetwork(12)
        cluster = Cluster(network, QUIET)
        value, address = await _published(cluster, 60)
        held = {n.me.id for n in cluster.nodes if n.held(address) == value}

        def known_holders(node: DhtNode) -> list[bytes]:
            return [c.id for c in node.contacts() if c.id in held]

        # An asker that knows replicas, and more than k other contacts to ask first.
        asker = max(
            (n for n in cluster.nodes if n.me.id not in held),
            key=lambda n: (n.contact_count() - len(known_holders(n)) >= QUIET.ksize,
                           len(known_holders(n))),
        )  # fmt: skip
        holders = known_holders(asker)
        assert holders and asker.contact_count() - len(holders) >= QUIET.ksize
        for holder in holders:  # each answered one request too late, as on a busy host
            asker.router.failed(holder)
        # The first round asks only the others, and they are cut off: only replicas answer.
        replicas = [n.address for n in cluster.nodes if n.me.id in held]
        network.partition([asker.address, *replicas])
        result = await asker.fetch(address)
        assert result.value == value and result.holders >= 1
        assert asker.stats["fetches_retried"] == 1
        await cluster.stop()

    run_simulated(main, 12)


def test_a_fetch_with_every_contact_silent_is_unreachable_after_one_retry() -> None:
    async def main() -> None:
        network = SimNetwork(13)
        cluster = Cluster(network, QUIET)
        _, address = await _published(cluster, 30)
        asker = cluster.nodes[-1]
        network.partition([asker.address])
        started = asyncio.get_running_loop().time()
        with pytest.raises(Unreachable) as failure:
            await asker.fetch(address)
        assert failure.value.code == "dht_unreachable"
        assert asker.stats["fetches_retried"] == 1
        # Two rounds, each ending one RPC timeout after its last request was sent.
        assert asyncio.get_running_loop().time() - started < 4 * QUIET.rpc_timeout
        await cluster.stop()

    run_simulated(main, 13)


def test_a_contact_is_dropped_after_two_misses_in_a_row_not_two_at_once() -> None:
    async def main() -> None:
        network = SimNetwork(14)
        cluster = Cluster(network, QUIET)
        await cluster.start(5)
        asker, other = cluster.nodes[0], cluster.nodes[1]
        peer = asker.router.get(other.me.id)
        assert peer is not None
        network.partition([other.address])  # silent, as a stalled host is
        sent = [asker.protocol.request(peer, "find_node", bytes(20)) for _ in range(3)]
        assert (
            await asyncio.gather(*sent, asker.protocol.request(peer, "ping")) == [(False, None)] * 4
        )
        assert asker.router.get(peer.id) is not None  # one silence: one miss
        assert asker.protocol.suspect(peer.id)
        assert await asker.protocol.request(peer, "ping") == (False, None)
        assert asker.router.get(peer.id) is None  # asked again, silent again: gone
        assert asker.protocol.suspect(peer.id)  # and lookups skip it a while longer
        await cluster.stop()

    run_simulated(main, 14)


def test_a_late_answer_clears_the_miss_its_timeout_counted() -> None:
    async def main() -> None:
        network = Slow(15)
        cluster = Cluster(network, QUIET)
        await cluster.start(5)
        asker, busy = cluster.nodes[0], cluster.nodes[1]
        peer = asker.router.get(busy.me.id)
        assert peer is not None
        network.slow, network.extra = busy.address, QUIET.rpc_timeout  # answers 2 s late
        assert await asker.protocol.request(peer, "ping") == (False, None)
        assert asker.protocol.suspect(peer.id)
        await asyncio.sleep(1)  # virtual: the late answer arrives
        assert asker.stats["late_answers"] == 1
        assert not asker.protocol.suspect(peer.id)
        assert asker.router.get(peer.id) is not None
        await cluster.stop()

    run_simulated(main, 15)


class DropNext(SimNetwork):
    """Loses the next `count` datagrams sent to `target`."""

    target: Address | None = None
    count = 0

    def send(self, data: bytes, source: Address, destination: Address) -> None:
        if destination == self.target and self.count > 0:
            self.count -= 1
            self.stats["lost"] += 1
            return
        super().send(data, source, destination)


def test_a_key_claimed_from_elsewhere_does_not_move_a_contact_that_missed_one_ping() -> None:
    async def main() -> None:
        network = DropNext(16)
        cluster = Cluster(network, QUIET)
        await cluster.start(5)
        asker, busy = cluster.nodes[0], cluster.nodes[1]
        peer = asker.router.get(busy.me.id)
        assert peer is not None
        network.target, network.count = busy.address, 1  # the first check ping is lost
        claim = replace(peer, host="10.9.9.9", port=9999)  # its key, from someone else
        asker.protocol._heard_from(claim, asyncio.get_running_loop().time())
        await asyncio.sleep(3 * QUIET.rpc_timeout)  # virtual: the checks run
        assert network.count == 0
        kept = asker.router.get(busy.me.id)
        assert kept is not None and kept.address == busy.address
        await cluster.stop()

    run_simulated(main, 16)


def test_a_lookup_on_a_node_stopped_meanwhile_ends() -> None:
    """A node stopped while a lookup of its own runs (a join, a user's resolve): its requests
    are cancelled with its background work, and the lookup must still end, not wait for ever
    (a 10,000-node simulation's churn never finished for this)."""

    async def main() -> None:
        network = SimNetwork(15)
        cluster = Cluster(network, QUIET)
        _, address = await _published(cluster, 30)
        asker = cluster.nodes[-1]
        network.partition([asker.address])  # nothing answers: its requests stay pending
        loop = asyncio.get_running_loop()
        lookup = asyncio.ensure_future(asker.find_closest(address))
        await asyncio.sleep(QUIET.rpc_timeout / 10)
        assert len(asker.protocol._outstanding) > 0  # the lookup's requests are in flight
        started = loop.time()
        await asker.stop()
        closest = await asyncio.wait_for(lookup, 10 * QUIET.rpc_timeout)
        assert closest == [] and loop.time() - started < QUIET.rpc_timeout
        await cluster.stop()

    run_simulated(main, 15)
