"""The pure lookup (bns/lookup.py): lookups sharing one `avoid` set, run at once, never ask
the same contact (the disjoint paths of a fetch with `read_paths` > 1)."""

from __future__ import annotations

from badgechain.bns.lookup import Lookup

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
