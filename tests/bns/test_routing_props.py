"""Property tests: the bucket walk of `RoutingTable.neighbours` ranks exactly as ranking the
whole table does, and `upkeep.HandOvers` answers exactly as `hand_over_due` does, on tables
of every shape (ids that crowd one region, ids equal to the target, shared addresses)."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.bns.guard import address_group
from badgechain.bns.puzzle import ID_BYTES, node_id_of, solves_id_puzzle
from badgechain.bns.replica import hands_over
from badgechain.bns.routing import Contact, RoutingTable
from badgechain.bns.upkeep import HandOvers, hand_over_due


def host(c: Contact) -> str:
    return address_group(c.host, c.port, True)


def brute(
    known: list[Contact], target: bytes, k: int, exclude: tuple[str, int] | None
) -> list[Contact]:
    number = int.from_bytes(target, "big")
    ranked = [c for c in known if c.number != number and c.address != exclude]
    return sorted(ranked, key=lambda c: c.number ^ number)[:k]


def crowded_id(rng: random.Random, near: bytes, shared_bits: int) -> bytes:
    """An id sharing at least `shared_bits` leading bits with `near`."""
    bits = 8 * ID_BYTES
    keep = ((1 << bits) - 1) ^ ((1 << (bits - shared_bits)) - 1)
    mixed = (int.from_bytes(near, "big") & keep) | (rng.getrandbits(bits) & ~keep)
    return mixed.to_bytes(ID_BYTES, "big")


class Placed(Contact):
    """A contact whose id is given (real ones derive it from the key): tests may crowd ids."""

    def place(self, node_id: bytes) -> Placed:
        self.id, self.number = node_id, int.from_bytes(node_id, "big")
        return self


def world(seed: int, size: int, k: int, crowd: int) -> tuple[random.Random, Contact, RoutingTable]:
    rng = random.Random(seed)
    me = Contact(rng.randbytes(32), "10.9.9.9", 1)
    table = RoutingTable(me.id, k, 2, host)
    for i in range(size):
        c = Placed(rng.randbytes(32), f"10.{i % 7}.{i // 7 % 250}.1", rng.choice((1, 2, 3)))
        if crowd and i % 3 == 0:  # a third of the ids crowd around this node's or a target's
            c.place(crowded_id(rng, me.id, rng.randrange(1, crowd + 1)))
        table.add(c, 0.0)
    return rng, me, table


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    size=st.integers(0, 600),
    k=st.sampled_from([1, 3, 8, 20]),
    crowd=st.sampled_from([0, 12, 40]),
)
def test_neighbours_match_ranking_the_whole_table(seed: int, size: int, k: int, crowd: int) -> None:
    rng, me, table = world(seed, size, k, crowd)
    known = list(table.contacts())
    targets = [rng.randbytes(ID_BYTES) for _ in range(10)] + [me.id]
    targets += [c.id for c in rng.sample(known, min(5, len(known)))]
    targets += [crowded_id(rng, me.id, 30) for _ in range(5)]
    for target in targets:
        exclude = rng.choice(known).address if known and rng.random() < 0.5 else None
        for want in (1, k, 2 * k):
            assert table.neighbours(target, want, exclude) == brute(known, target, want, exclude)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    size=st.integers(0, 400),
    k=st.sampled_from([3, 8, 20]),
    senders=st.sampled_from([1, 3, 30]),
    crowd=st.sampled_from([0, 12, 40]),
)
def test_hand_overs_match_hand_over_due(
    seed: int, size: int, k: int, senders: int, crowd: int
) -> None:
    rng, me, table = world(seed, size, k, crowd)
    known = list(table.contacts())
    newcomers = [Contact(rng.randbytes(32), "10.8.8.8", 5)]
    newcomers += [Placed(rng.randbytes(32), "10.8.8.9", 5).place(crowded_id(rng, me.id, 20))]
    if known:  # a contact already known, and strangers sharing a known contact's address
        newcomers += [rng.choice(known), Contact(rng.randbytes(32), *rng.choice(known).address)]
        for near in table.neighbours(me.id, 3):  # where the ranking leaving it out matters
            stranger = Placed(rng.randbytes(32), near.host, near.port)
            newcomers.append(stranger.place(crowded_id(rng, me.id, rng.randrange(0, 12))))
    for newcomer in newcomers:
        due = HandOvers(table, me, newcomer, senders)
        addresses = [crowded_id(rng, me.id, rng.randrange(0, 40)) for _ in range(60)]
        addresses += [newcomer.id, me.id] + [c.id for c in rng.sample(known, min(5, len(known)))]
        for index, address in enumerate(addresses):
            if index == 30:  # the table changes halfway: the next answers follow it
                table.add(Contact(rng.randbytes(32), "10.7.7.7", 9), 0.0)
                if known:
                    table.remove(rng.choice(known).id)
            nearest = table.neighbours(address, k, exclude=newcomer.address)
            ids = [n.id for n in nearest]
            expected = hands_over(address, me.id, newcomer.id, ids, k, senders)
            assert hand_over_due(table, me, address, newcomer, senders) == expected
            assert due(address) == expected, (index, address.hex())


@settings(max_examples=50, deadline=None)
@given(key=st.binary(min_size=32, max_size=32), nonce=st.binary(min_size=0, max_size=10))
def test_contacts_derive_the_id_and_check_the_puzzle_as_the_puzzle_does(
    key: bytes, nonce: bytes
) -> None:
    for _ in range(2):  # the second time from the memo
        c = Contact(key, "10.0.0.1", 1, nonce)
        assert c.id == node_id_of(key, nonce) and c.number == int.from_bytes(c.id, "big")
        for difficulty in (-1, 0, 1, 3):
            assert c.solves(difficulty) == solves_id_puzzle(key, nonce, difficulty)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), steps=st.integers(0, 400))
def test_the_tables_id_counts_follow_every_change(seed: int, steps: int) -> None:
    rng, _, table = world(seed, 0, 4, 0)
    pool = [Contact(rng.randbytes(32), f"10.0.0.{i % 5}", i % 3) for i in range(60)]
    for _ in range(steps):
        c = rng.choice(pool)
        action = rng.random()
        if action < 0.5:
            table.add(c, 0.0)
        elif action < 0.6:  # the same key answers from another address
            table.add(Contact(c.public_key, c.host, c.port + 1, c.nonce), 0.0)
        elif action < 0.8:
            table.failed(c.id)
        else:
            table.remove(c.id)
    known = list(table.contacts())
    numbers = sorted(c.number for c in known)
    for _ in range(20):
        low = rng.getrandbits(160)
        high = low + rng.getrandbits(rng.randrange(1, 161))
        assert table.count_between(low, high) == sum(low <= n < high for n in numbers)
    assert table.count_between(0, 1 << 160) == len(known) == len(table)
    for address in {c.address for c in pool} | {(c.host, c.port + 1) for c in pool}:
        assert table.count_at(address) == sum(c.address == address for c in known)
    for bucket in table.buckets:  # what the per-host limit reads
        assert bucket.hosts == Counter(host(c) for c in bucket.contacts.values())
