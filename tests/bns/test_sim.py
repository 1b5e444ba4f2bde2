"""The DHT on the simulated network (bns/sim.py): virtual time, seeded loss, reordering,
partitions and churn. No sleeps in real time: every run is the same for one seed."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from badgechain.bns.dht import Contact, DhtNode, DhtSettings
from badgechain.bns.record import Record, Uid, make_entry, make_location
from badgechain.bns.sim import LinkModel, SimNetwork, run_simulated, start_simulated
from badgechain.bns.sim_adversary import Behaviour
from badgechain.bns.sim_attack import AttackOptions, run_attack
from badgechain.bns.sim_values import SharedVerdicts
from badgechain.bns.values import BnsValues
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import KeyPair
from badgechain.storage import MemoryStore
from benchmarks import bns_sim

SETTINGS = DhtSettings(id_difficulty=0, liveness_interval=30.0)
ISSUER = KeyPair.from_seed(bytes(range(32)))


class Cluster:
    """`count` nodes on one simulated network, node i on its own host."""

    def __init__(self, network: SimNetwork, settings: DhtSettings = SETTINGS) -> None:
        self.network = network
        self.settings = settings
        self.nodes: list[DhtNode] = []

    def add(self) -> DhtNode:
        seed = len(self.nodes).to_bytes(32, "big")
        node = DhtNode(
            KeyPair.from_seed(seed).public_key, MemoryStore(), BnsValues(), self.settings
        )
        start_simulated(
            node, self.network, f"10.0.{len(self.nodes) // 250}.{len(self.nodes) % 250 + 1}"
        )
        self.nodes.append(node)
        return node

    async def start(self, count: int) -> None:
        for _ in range(count):
            self.add()
        for node in self.nodes[1:]:
            await node.bootstrap([self.nodes[0].address])

    async def stop(self) -> None:
        for node in self.nodes:
            await node.stop()


_UIDS = random.Random(0)


def record() -> bytes:
    """A fresh valid record; seeded, so each test's values (and addresses) are the same."""
    signing_input = _UIDS.randbytes(64)
    uid = Uid(ISSUER.sign(signing_input))
    return Record(make_entry(ISSUER, uid, signing_input, None, 1)).to_wire_bytes()


def test_a_run_repeats_exactly_for_one_seed() -> None:
    def once(seed: int) -> tuple[int, float, list[int]]:
        async def main() -> tuple[int, float, list[int]]:
            network = SimNetwork(seed, LinkModel(loss=0.05))
            cluster = Cluster(network)
            await cluster.start(30)
            counts = [n.contact_count() for n in cluster.nodes]
            await cluster.stop()
            return network.stats["sent"], asyncio.get_running_loop().time(), counts

        return run_simulated(main, seed)

    assert once(3) == once(3)
    assert once(3) != once(4)


def test_publish_and_fetch_through_loss_and_reordering() -> None:
    async def main() -> None:
        # 10% of datagrams lost, delays of 5-105 ms: answers overtake each other.
        network = SimNetwork(7, LinkModel(latency=0.005, jitter=0.1, loss=0.1))
        cluster = Cluster(network)
        await cluster.start(60)
        values = [record() for _ in range(10)]
        for i, value in enumerate(values):
            result = await cluster.nodes[i].publish(value)
            assert result.done and result.accepted >= SETTINGS.write_quorum
        for i, value in enumerate(values):
            fetched = await cluster.nodes[-1 - i].fetch(BnsValues().address_of(value))
            assert fetched.value == value
        assert network.stats["lost"] > 100  # the loss was real
        await cluster.stop()

    run_simulated(main, 7)


def test_a_partition_hides_a_write_until_healed_and_republished() -> None:
    async def main() -> None:
        network = SimNetwork(5)
        cluster = Cluster(network)
        await cluster.start(40)
        east, west = cluster.nodes[:20], cluster.nodes[20:]
        network.partition([n.address for n in east], [n.address for n in west])
        value = record()
        address = BnsValues().address_of(value)
        await east[0].publish(value)
        assert (await west[0].fetch(address)).value is None
        network.heal()
        await asyncio.sleep(60)  # virtual: the liveness rounds find the other side again
        await east[0].republish_once()
        assert (await west[0].fetch(address)).value == value
        assert network.stats["cut"] > 0
        await cluster.stop()

    run_simulated(main, 5)


def test_a_newcomer_gets_each_value_from_a_few_replicas_not_all() -> None:
    async def main() -> None:
        network = SimNetwork(9)
        cluster = Cluster(network)
        await cluster.start(80)
        values = [record() for _ in range(30)]
        for i, value in enumerate(values):
            await cluster.nodes[i].publish(value)
        newcomer = cluster.add()
        senders: Counter[bytes] = Counter()

        def store(sender: Contact, address: Any, value: Any) -> Any:
            senders[address] += 1
            return handler(sender, address, value)

        handler = newcomer.protocol.answer_with("store", store)
        await newcomer.bootstrap([cluster.nodes[0].address])
        for value in values:
            await newcomer.find_closest(BnsValues().address_of(value))  # as refreshes would
        await asyncio.sleep(10)
        # Each replica judges its rank from its own table, so a few more may send: far from k.
        limit = SETTINGS.hand_over_senders
        assert senders and sum(senders.values()) <= (limit + 1) * len(senders)
        assert max(senders.values()) <= 2 * limit < SETTINGS.ksize
        held = sum(newcomer.held(BnsValues().address_of(v)) is not None for v in values)
        assert held == len(senders)  # what it was sent, it keeps
        await cluster.stop()

    run_simulated(main, 9)


def test_resolves_stay_complete_while_half_the_nodes_are_replaced() -> None:
    report = bns_sim.main(
        [
            "--nodes", "120", "--records", "60", "--resolves", "200", "--writers", "6",
            "--duration", "1200", "--republish", "400", "--seed", "2",
        ]
    )  # fmt: skip
    assert report.replaced == 60
    assert report.failed == 0 and report.resolved == 200
    assert report.verdicts[1] > 10 * report.verdicts[0]  # the crypto ran once per input
    assert min(report.replicas) >= SETTINGS.ksize // 2
    assert bns_sim.percentile(report.rounds, 0.95) <= 3 + 3  # log2(120 / 20) + 3 ≈ 5.6


def test_settings_of_the_simulation_are_the_shipped_ones_but_the_puzzle_and_rounds() -> None:
    shipped = DhtSettings()
    assert (
        replace(
            bns_sim.SETTINGS,
            id_difficulty=shipped.id_difficulty,
            liveness_interval=shipped.liveness_interval,
            liveness_batch=shipped.liveness_batch,
            refresh_interval=shipped.refresh_interval,
            write_retry_interval=shipped.write_retry_interval,
        )
        == shipped
    )


def test_shared_verdicts_replay_each_verdict_and_each_refusal() -> None:
    verdicts = SharedVerdicts(BnsValues())
    value = record()
    address = BnsValues().address_of(value)
    other = KeyPair.from_seed(bytes(32))
    forged = Record(  # the real entry, a location the issuer never signed
        Record.from_wire_bytes(value).entry,
        make_location(other, Record.from_wire_bytes(value).entry.uid, ("https://x.example/",), 9),
    ).to_wire_bytes()
    for _ in range(3):  # three storing nodes: one check each kind, the same verdicts
        assert verdicts.address_of(value) == address
        assert verdicts.accept(address, None, value) == value
        with pytest.raises(BadgeChainError) as refused:
            verdicts.accept(address, value, forged)
        assert refused.value.code == _refusal(forged, value, address)
    assert verdicts.checks == 3 and verdicts.replays == 6


def _refusal(forged: bytes, held: bytes, address: bytes) -> str:
    with pytest.raises(BadgeChainError) as refused:
        BnsValues().accept(address, held, forged)
    return refused.value.code


def test_shared_verdicts_start_over_when_full_and_stay_right() -> None:
    verdicts = SharedVerdicts(BnsValues(), limit=2)
    values = [record() for _ in range(3)]
    for _ in range(2):
        for value in values:
            assert verdicts.accept(verdicts.address_of(value), None, value) == value
    assert verdicts.checks == 12  # every verdict forgotten before its turn came again


HOSTILE = (Behaviour.STALE, Behaviour.FORGE, Behaviour.ATTRACT)


def test_a_fifth_of_nodes_hostile_at_random_never_hides_a_revocation() -> None:
    options = AttackOptions(nodes=60, fraction=0.2, behaviours=HOSTILE, records=4, reads=30)
    outcomes = run_attack(replace(options, seed=3))
    for outcome in outcomes:
        # One honest replica among a read's answers is enough: the revocation merges in.
        assert outcome.right_share >= 0.9, outcome
    forge = [o for o in outcomes if o.behaviour is Behaviour.FORGE]
    assert all(o.forgeries_dropped > 0 for o in forge)  # validation refused the forgeries
    assert run_attack(replace(options, seed=3)) == outcomes  # one seed, one run


def test_disjoint_reads_get_past_sybils_ground_nearest_each_uid() -> None:
    # As many stale liars as a read's quorum, each nearer the UID than any honest node.
    options = AttackOptions(
        nodes=60, fraction=0.0, placed=5, behaviours=(Behaviour.STALE,), records=4, reads=40
    )
    one, two = run_attack(replace(options, seed=4))
    assert two.paths == 2 and two.right_share >= 0.95, two
    assert one.right <= two.right  # a single path is where the liars can win
