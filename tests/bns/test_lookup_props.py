"""Property test: the lookup (bns/lookup.py), which keeps its pending and slow requests apart
so `step` reads those rather than every contact known, decides exactly as the lookup that
scanned them all (tests/bns/lookup_reference.py), for two lookups sharing one `avoid` set
under any order of steps, answers, failures, hedge delays and times."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.bns.lookup import Lookup
from tests.bns.lookup_reference import ReferenceLookup

TARGET = bytes(20)


def contact(distance: int) -> tuple[bytes, str]:
    return distance.to_bytes(20, "big"), f"c{distance}"


def host_of(name: str) -> str:
    return f"h{int(name[1:]) % 5}"  # five hosts: the per-host limit bites


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_the_lookup_decides_as_the_one_that_scanned_every_contact(seed: int) -> None:
    rng = random.Random(seed)
    want, alpha, limit = rng.randint(1, 5), rng.randint(1, 4), rng.randint(1, 3)
    hedge = rng.choice([0.0, 0.25, 1.0])
    shared: tuple[set[bytes], set[bytes]] = (set(), set())
    pairs: list[tuple[Any, Any]] = [
        (
            Lookup(TARGET, want, alpha, limit, hedge, host_of, b"\xff" * 20, shared[0]),
            ReferenceLookup(TARGET, want, alpha, limit, hedge, host_of, b"\xff" * 20, shared[1]),
        )
        for _ in range(2)
    ]
    first = [contact(rng.randint(1, 60)) for _ in range(rng.randint(0, 12))]
    for new, old in pairs:
        new.learn(first)
        old.learn(first)
    asked: list[list[str]] = [[], []]
    now = 0.0
    for _ in range(80):
        now += rng.choice([0.0, 0.0, 0.1, 0.3, 1.0])
        which = rng.randrange(2)
        new, old = pairs[which]
        action = rng.random()
        if action < 0.4:
            got = new.step(now)
            assert got == old.step(now)
            asked[which] += got or []
        elif action < 0.8 and asked[which]:
            name = rng.choice(asked[which])
            node_id = int(name[1:]).to_bytes(20, "big")
            if action < 0.65:
                named = [contact(rng.randint(1, 60)) for _ in range(rng.randint(0, 4))]
                new.answered(node_id, named)
                old.answered(node_id, named)
            else:
                new.failed(node_id)
                old.failed(node_id)
        elif action < 0.9:
            hedge = rng.choice([0.0, 0.25, 1.0])
            new.hedge_delay = old.hedge_delay = hedge
        else:
            assert abs(new.wait(now) - old.wait(now)) < 1e-9
        assert shared[0] == shared[1]
        assert (new.asked, new.rounds) == (old.asked, old.rounds)
    for new, old in pairs:
        assert new.step(now) == old.step(now)
        assert new.closest() == old.closest()
