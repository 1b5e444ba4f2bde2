"""The pure lookup (bns/lookup.py): lookups sharing one `avoid` set, run at once, never ask
the same contact (the disjoint paths of a fetch with `read_paths` > 1); and which ids a
join looks up to fill its buckets (bns/rounds.py)."""

from __future__ import annotations

import random

from badgechain.bns.lookup import Lookup
from badgechain.bns.rounds import join_refresh_ids

TARGET = bytes(20)


def contact(distance: int) -> tuple[bytes, str]:
    """A contact (id, name) at `distance` from TARGET; the name stands for the contact."""
    return distance.to_bytes(20, "big"), f"c{distance}"


def lookup(avoid: set[bytes]) -> Lookup[str]:
    return Lookup(TARGET, 3, 3, 99, 1.0, lambda c: c, b"\xff" * 20, avoid)


def test_paths_run_at_once_split_the_contacts_and_skip_what_the_other_asked() -> None:
    avoid: set[bytes] = set()
    first, second = lookup(avoid), lookup(avoid)
    known = [contact(d) for d in (2, 4, 6, 8, 10, 12)]
    first.learn(known)
    second.learn(known)
    assert first.step(0.0) == ["c2", "c4", "c6"]
    assert second.step(0.0) == ["c8", "c10", "c12"]  # the nearest three are the first's
    # Both hear of one contact nearer than all: whichever asks it first keeps it.
    nearest = [contact(1)]
    first.answered(contact(2)[0], nearest)
    second.answered(contact(8)[0], nearest)
    assert first.step(0.0) == ["c1"]
    assert second.step(0.0) == []  # nothing of its own to ask: it waits for its answers
    second.answered(contact(10)[0])
    second.answered(contact(12)[0])
    assert second.step(0.0) is None
    assert second.closest() == ["c8", "c10", "c12"]


# --- the join's refresh (bns/rounds.py) -------------------------------------------------------


def shared_bits(a: bytes, b: bytes) -> int:
    return 160 - (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_length()


def test_a_join_refreshes_each_slice_farther_than_the_nearest_the_nearest_first() -> None:
    rng = random.Random(3)
    me = rng.randbytes(20)
    nearest = bytes([me[0], me[1] ^ 0x10]) + rng.randbytes(18)  # 11 bits shared
    assert shared_bits(me, nearest) == 11
    ids = join_refresh_ids(me, nearest, 99, rng)
    assert [shared_bits(me, i) for i in ids] == list(range(10, -1, -1))
    assert [shared_bits(me, i) for i in join_refresh_ids(me, nearest, 4, rng)] == [10, 9, 8, 7]
    assert join_refresh_ids(me, nearest, 0, rng) == []
    assert join_refresh_ids(me, bytes(b ^ 0x80 for b in me[:1]) + me[1:], 8, rng) == []
