"""The routing table (bns/routing.py), pure: exact neighbours, splits, the per-host limit,
spares taking a dead contact's place, liveness order and idle buckets. No sockets, no clock."""

from __future__ import annotations

import random

from badgechain.bns.guard import address_group
from badgechain.bns.puzzle import ID_BYTES
from badgechain.bns.routing import IDLE_BUCKET_S, Contact, RoutingTable

K = 8


def contact(rng: random.Random, host: str = "10.0.0.1", port: int | None = None) -> Contact:
    return Contact(rng.randbytes(32), host, port or rng.randrange(1, 65536))


def table(me: Contact, k: int = K, host_limit: int = 2) -> RoutingTable:
    return RoutingTable(me.id, k, host_limit, lambda c: address_group(c.host, c.port, True))


def filled(rng: random.Random, count: int) -> tuple[Contact, RoutingTable, list[Contact]]:
    me = contact(rng)
    routing = table(me)
    added = [contact(rng, f"10.{i // 250}.{i % 250}.1") for i in range(count)]
    for c in added:
        routing.add(c, 0.0)
    return me, routing, added


def distance(target: bytes, c: Contact) -> int:
    return c.number ^ int.from_bytes(target, "big")


def test_neighbours_are_the_exact_nearest() -> None:
    rng = random.Random(7)
    me, routing, _ = filled(rng, 800)
    known = list(routing.contacts())
    assert len(known) > 3 * K and len(routing.buckets) > 5
    targets = [rng.randbytes(ID_BYTES) for _ in range(200)]
    targets += [c.id for c in rng.sample(known, 20)] + [me.id]
    for target in targets:
        for k in (1, 5, K):
            brute = sorted((c for c in known if c.id != target), key=lambda c: distance(target, c))
            found = routing.neighbours(target, k)
            assert [distance(target, c) for c in found] == [distance(target, c) for c in brute[:k]]
        excluded = rng.choice(known)
        found = routing.neighbours(target, exclude=excluded.address)
        assert excluded not in found and len(found) == K


def test_buckets_split_around_this_node_and_keep_far_ones_bounded() -> None:
    rng = random.Random(1)
    me, routing, added = filled(rng, 2000)
    assert all(len(b.contacts) <= K for b in routing.buckets)
    # Near this node every contact is kept; far away only k per bucket.
    nearest = sorted(added, key=lambda c: distance(me.id, c))[:K]
    assert all(routing.get(c.id) is c for c in nearest)
    assert len(routing) < len(added) / 4


def test_a_host_gets_at_most_its_limit_per_bucket() -> None:
    rng = random.Random(2)
    me = contact(rng)
    routing = table(me, host_limit=2)
    crowd = [contact(rng, "10.9.9.9") for _ in range(50)]
    for c in crowd:
        assert routing.add(c, 0.0) is None
    per_bucket = [
        sum(1 for c in b.contacts.values() if c.host == "10.9.9.9") for b in routing.buckets
    ]
    assert max(per_bucket) <= 2 and len(routing) < 50


def test_a_full_bucket_keeps_a_spare_that_replaces_a_dead_contact() -> None:
    rng = random.Random(3)
    me = contact(rng)
    routing = table(me)
    far = [
        c
        for c in (contact(rng, f"10.1.{i}.1") for i in range(400))
        if c.number >> 159 != me.number >> 159
    ]
    head = None
    for c in far:
        head = routing.add(c, 1.0) or head
    assert head is not None  # a full far bucket asks the caller to ping its oldest contact
    bucket = routing._bucket(head.number)
    spare = next(reversed(bucket.spares.values()))
    assert routing.failed(head.id) is False  # one failure is not death
    assert routing.failed(head.id) is True
    assert routing.get(head.id) is None and routing.get(spare.id) is spare


def test_a_known_contact_moves_to_its_bucket_tail_and_stale_ones_come_first() -> None:
    rng = random.Random(4)
    me = contact(rng)
    routing = table(me)
    first, second, third = (contact(rng, f"10.2.{i}.1") for i in range(3))
    for at, c in ((1.0, first), (2.0, second), (3.0, third)):
        routing.add(c, at)
    routing.add(first, 10.0)
    assert routing.stale(12.0, 5.0, 10) == [second, third]
    assert routing.stale(12.0, 5.0, 1) == [second]


def test_idle_buckets_are_refreshed_with_an_id_inside_them() -> None:
    rng = random.Random(5)
    _, routing, _ = filled(rng, 300)
    assert routing.refresh_ids(10.0, rng) == []
    ids = routing.refresh_ids(IDLE_BUCKET_S + 1.0, rng)
    assert len(ids) == len(routing.buckets)
    for node_id, bucket in zip(ids, routing.buckets, strict=True):
        assert bucket.covers(int.from_bytes(node_id, "big"))
