"""Liveness rounds (bns/upkeep.py `liveness_due`, bns/rounds.py): who a round pings, and
what that costs a quiet network and buys after a stop, on the simulated network."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace

import pytest

from badgechain.bns.dht import DhtNode, DhtSettings
from badgechain.bns.guard import address_group
from badgechain.bns.routing import Contact, RoutingTable
from badgechain.bns.sim import SimNetwork, run_simulated
from badgechain.bns.upkeep import liveness_due
from tests.bns.test_sim import Cluster


def _table(count: int, seed: int = 3) -> tuple[RoutingTable, list[Contact]]:
    rng = random.Random(seed)
    me = Contact(rng.randbytes(32), "10.0.0.1", 1)
    table = RoutingTable(me.id, 20, 2, lambda c: address_group(c.host, c.port, True))
    added = [Contact(rng.randbytes(32), f"10.1.{i}.1", 2) for i in range(count)]
    for c in added:
        table.add(c, 0.0)
    return table, [c for c in added if table.get(c.id) is not None]


def test_a_contact_heard_from_lately_is_not_pinged() -> None:
    table, known = _table(12)
    for at, c in enumerate(known):
        table.add(c, 100.0 + at)  # heard from at 100, 101, ...
    assert liveness_due(table, 110.0, quiet=30.0, limit=3) == []
    # 30 s after the first ones were heard: they are due, the longest unheard first.
    assert liveness_due(table, 131.5, quiet=30.0, limit=3) == known[:2]
    assert liveness_due(table, 200.0, quiet=30.0, limit=3) == known[:3]


def test_a_contact_that_missed_a_request_is_pinged_first() -> None:
    table, known = _table(12)
    for c in known:
        table.add(c, 100.0)
    late, later = known[7], known[4]
    table.failed(later.id, 104.0, 106.0)
    table.failed(late.id, 103.0, 105.0)
    missed = {late.id, later.id}
    due = liveness_due(table, 107.0, quiet=30.0, limit=3)
    assert {c.id for c in due} == missed  # heard from 7 s ago, but a miss since
    # Quiet ones fill the round after them, each contact once.
    due = liveness_due(table, 200.0, quiet=30.0, limit=3)
    assert {c.id for c in due[:2]} == missed and len({c.id for c in due}) == 3
    [only] = liveness_due(table, 107.0, quiet=30.0, limit=1)
    assert only.id in missed


SHIPPED = DhtSettings()
PINGING = replace(
    DhtSettings(id_difficulty=0),
    liveness_interval=SHIPPED.liveness_interval,
    liveness_batch=SHIPPED.liveness_batch,
    refresh_interval=3600.0,
)


def _pings_and_dead(settings: DhtSettings) -> tuple[float, list[int], int]:
    """Background requests per node a second in an idle network of 30, then how many
    stopped nodes live tables hold 10 and 40 s after 6 stop; and who the stopped were."""

    async def main() -> tuple[float, list[int], int]:
        cluster = Cluster(SimNetwork(5), settings)
        await cluster.start(30)
        await asyncio.sleep(60)  # virtual seconds (bns/sim.py), past the join's traffic
        nodes = cluster.nodes
        sent = sum(n.stats["rpcs_sent"] for n in nodes)
        await asyncio.sleep(60)
        rate = (sum(n.stats["rpcs_sent"] for n in nodes) - sent) / 60 / len(nodes)
        stopped = nodes[-6:]
        held_before = _dead_held(nodes[:-6], stopped)
        for node in stopped:
            await node.stop()
        left = []
        for wait in (10, 30):
            await asyncio.sleep(wait)
            left.append(_dead_held(nodes[:-6], stopped))
        await cluster.stop()
        return rate, left, held_before

    return run_simulated(main, 5)


def _dead_held(live: list[DhtNode], stopped: list[DhtNode]) -> int:
    gone = {n.me.id for n in stopped}
    return sum(c.id in gone for n in live for c in n.contacts())


@pytest.mark.slow
def test_an_idle_network_pings_less_and_still_drops_the_stopped() -> None:
    quiet_rate, quiet_left, held = _pings_and_dead(PINGING)
    eager_rate, eager_left, _ = _pings_and_dead(replace(PINGING, liveness_quiet=0.0))
    assert held > 20  # the stopped nodes were in many tables
    # Every round pinged `liveness_batch` contacts before; contacts heard from within
    # `liveness_quiet` (each other's pings count) are now left alone.
    assert eager_rate > 2.5
    assert quiet_rate < eager_rate / 3
    # Silent deaths are still found within the quiet window and a few rounds, and those
    # that missed a ping are pinged again first, so no later than before.
    assert quiet_left[-1] == 0 and quiet_left[0] <= eager_left[0]


def test_a_full_bucket_pings_its_oldest_only_when_not_heard_from_lately() -> None:
    """A contact kept as a spare used to cost a ping of its bucket's oldest contact each
    time; one heard from within `liveness_quiet` is not asked again."""

    async def main() -> tuple[int, int]:
        cluster = Cluster(SimNetwork(2), PINGING)  # no round runs: no virtual time passes
        node = cluster.add()
        endpoint, rng, at = node.protocol, random.Random(4), 1000.0

        def meet(count: int, when: float) -> None:
            for i in range(count):
                host = f"10.{rng.randrange(1, 250)}.{i % 250}.{rng.randrange(1, 250)}"
                endpoint._heard_from(Contact(rng.randbytes(32), host, 7), when)

        meet(400, at)  # the buckets fill; later contacts are kept as spares
        sent = node.stats["rpcs_sent"]
        meet(200, at + 5.0)
        await asyncio.sleep(0)  # any ping spawned is sent now
        lately = node.stats["rpcs_sent"] - sent
        meet(200, at + 5.0 + PINGING.liveness_quiet + 1.0)
        await asyncio.sleep(0)
        quiet = node.stats["rpcs_sent"] - sent - lately
        await cluster.stop()
        return lately, quiet

    lately, quiet = run_simulated(main, 2)
    assert lately == 0 and quiet > 0
