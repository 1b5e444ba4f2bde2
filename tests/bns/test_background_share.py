"""The node's own rounds take at most half the requests in flight (bns/in_flight.py): a
user's lookup is sent at once while a republish burst waits on a silent peer. On the
simulated network (virtual time), so nothing here waits for a real timeout."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from badgechain.bns.dht import DhtNode, DhtSettings
from badgechain.bns.in_flight import background
from badgechain.bns.routing import Contact
from badgechain.bns.sim import SimNetwork, run_simulated
from tests.bns.test_sim import Cluster

SETTINGS = replace(DhtSettings(id_difficulty=0), max_in_flight=4, rpc_timeout=5.0)


async def _settle() -> None:
    """Let every task that can run now run (no virtual time passes)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def _sent_while_busy() -> tuple[int, int, int, list[bool]]:
    cluster = Cluster(SimNetwork(5), SETTINGS)
    await cluster.start(2)
    asker, gone = cluster.nodes
    silent = Contact(gone.me.id, *gone.address)
    await gone.stop()  # its requests go unanswered until rpc_timeout
    node: DhtNode = asker
    base = node.stats["rpcs_sent"]

    with background():
        burst = [asyncio.create_task(node.protocol.request(silent, "ping")) for _ in range(10)]
    await _settle()
    by_background = node.stats["rpcs_sent"] - base

    users = [asyncio.create_task(node.protocol.request(silent, "ping")) for _ in range(2)]
    await _settle()
    with_users = node.stats["rpcs_sent"] - base

    answers = await asyncio.gather(*users)
    await asyncio.gather(*burst)
    everything = node.stats["rpcs_sent"] - base
    await cluster.stop()
    return by_background, with_users, everything, [ok for ok, _ in answers]


def test_a_users_request_goes_out_while_a_background_burst_waits() -> None:
    by_background, with_users, everything, answered = run_simulated(_sent_while_busy)

    assert by_background == 2  # half of max_in_flight = 4
    assert with_users == 4  # both of the user's requests went out at once
    assert everything == 12  # the burst's others were sent later, none dropped
    assert answered == [False, False]  # the peer was gone: a timeout, not a hang


async def _user_burst() -> int:
    cluster = Cluster(SimNetwork(5), SETTINGS)
    await cluster.start(2)
    asker, gone = cluster.nodes
    silent = Contact(gone.me.id, *gone.address)
    await gone.stop()
    base = asker.stats["rpcs_sent"]
    burst = [asyncio.create_task(asker.protocol.request(silent, "ping")) for _ in range(10)]
    await _settle()
    sent = asker.stats["rpcs_sent"] - base
    await asyncio.gather(*burst)
    await cluster.stop()
    return sent


def test_user_requests_may_use_every_slot() -> None:
    assert run_simulated(_user_burst) == 4
