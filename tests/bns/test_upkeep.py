"""A node's pure decisions about writes and held values (bns/upkeep.py)."""

from __future__ import annotations

import random

from badgechain.bns.guard import address_group
from badgechain.bns.routing import Contact, RoutingTable
from badgechain.bns.upkeep import (
    MAX_NEWCOMERS,
    Newcomers,
    Pushes,
    among_closest,
    behind,
    hand_over_due,
    tally_store,
)

RNG = random.Random(9)
ADDRESS = RNG.randbytes(20)


def contact(host: str = "10.0.0.1") -> Contact:
    return Contact(RNG.randbytes(32), host, RNG.randrange(1, 65536))


def by_distance(contacts: list[Contact]) -> list[Contact]:
    target = int.from_bytes(ADDRESS, "big")
    return sorted(contacts, key=lambda c: c.number ^ target)


def host(c: Contact) -> str:
    return c.host


def test_a_write_is_done_once_the_quorum_of_distinct_hosts_accepted() -> None:
    one_host = [contact("10.0.0.1") for _ in range(3)]
    others = [contact("10.0.0.2"), contact("10.0.0.3")]
    answers = [(True, "ok")] * 3 + [(True, "stale"), (False, None)]
    result = tally_store(ADDRESS, one_host + others, answers, host, write_quorum=3)
    assert (result.accepted, result.refused, result.unanswered) == (3, {"stale": 1}, 1)
    assert (result.hosts, result.done) == (1, False)  # three nodes of one host are one host
    spread = [contact(f"10.0.1.{i}") for i in range(3)]
    assert tally_store(ADDRESS, spread, [(True, "ok")] * 3, host, write_quorum=3).done


def test_a_network_smaller_than_the_quorum_is_done_when_every_host_has_it() -> None:
    pair = [contact("10.0.2.1"), contact("10.0.2.2")]
    assert tally_store(ADDRESS, pair, [(True, "ok")] * 2, host, write_quorum=3).done
    assert not tally_store(ADDRESS, pair, [(True, "ok"), (False, None)], host, 3).done


def test_this_node_stores_only_when_among_the_k_closest() -> None:
    others = by_distance([contact() for _ in range(40)])
    me = others.pop(10)
    assert among_closest(me, ADDRESS, others[:20], 20)
    assert not among_closest(me, ADDRESS, others[:5], 5)
    assert among_closest(me, ADDRESS, others[:3], 5)  # fewer than k known: store here too


def test_a_fetch_repairs_only_the_replicas_behind_the_merge() -> None:
    a, b, c = contact(), contact(), contact()
    held = {a.id: b"new", b.id: b"old"}
    assert behind([a, b, c], held, b"new") == [b, c]


def test_values_a_peer_pushed_are_skipped_for_one_interval() -> None:
    pushes = Pushes()
    pushes.pushed(b"a" * 20, 10.0)
    pushes.pushed(b"b" * 20, 50.0)
    assert pushes.recent(60.0, 30.0) == {b"b" * 20}
    assert pushes.recent(200.0, 30.0) == set()


def test_a_newcomer_is_handed_its_values_once() -> None:
    newcomers = Newcomers()
    assert newcomers.first_meeting(b"x" * 20)
    assert not newcomers.first_meeting(b"x" * 20)
    for i in range(MAX_NEWCOMERS):
        newcomers.first_meeting(i.to_bytes(20, "big"))
    assert newcomers.first_meeting(b"x" * 20)  # bounded memory: forgotten, met again


def test_only_the_nearest_replicas_hand_a_value_to_a_nearer_newcomer() -> None:
    everyone = by_distance([contact(f"10.1.{i}.1") for i in range(30)])
    newcomer = everyone[0]
    for rank, me in enumerate(everyone[1:8], start=1):
        table = RoutingTable(me.id, 20, 2, lambda c: address_group(c.host, c.port, True))
        for other in everyone:
            if other is not me and other is not newcomer:
                table.add(other, 0.0)
        assert hand_over_due(table, me, ADDRESS, newcomer, senders=3) == (rank <= 3), rank
    far = everyone[-1]
    table = RoutingTable(everyone[1].id, 5, 2, host)
    for other in everyone[2:10]:
        table.add(other, 0.0)
    assert not hand_over_due(table, everyone[1], ADDRESS, far, senders=3)
