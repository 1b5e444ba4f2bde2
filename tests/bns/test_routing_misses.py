"""How the routing table counts misses (bns/routing.py `failed`), pure: requests sent into one
silence are one miss, misses of separate tries in a row drop a contact, an answer forgives,
and a contact the table does not hold leaves nothing behind."""

from __future__ import annotations

import random

from tests.bns.test_routing import contact, table


def test_misses_of_requests_sent_before_the_last_counted_one_are_not_counted_again() -> None:
    rng = random.Random(1)
    routing = table(contact(rng))
    peer = contact(rng, "10.1.0.1")
    routing.add(peer, 0.0)
    # Three requests sent at 0.0, 0.1 and 0.2 time out at 2.0, 2.1 and 2.2: one silence.
    assert routing.failed(peer.id, 0.0, 2.0) is False
    assert routing.failed(peer.id, 0.1, 2.1) is False
    assert routing.failed(peer.id, 0.2, 2.2) is False
    assert routing.get(peer.id) is not None and routing.failures[peer.id] == 1
    # Tried again after that miss was counted, silent again: two in a row, it leaves.
    assert routing.failed(peer.id, 2.5, 4.5) is True
    assert routing.get(peer.id) is None and peer.id not in routing.failures


def test_an_answer_between_misses_starts_the_count_again() -> None:
    rng = random.Random(2)
    routing = table(contact(rng))
    peer = contact(rng, "10.1.0.1")
    routing.add(peer, 0.0)
    assert routing.failed(peer.id, 0.0, 2.0) is False
    routing.add(peer, 3.0)  # it answered
    assert peer.id not in routing.failures
    assert routing.failed(peer.id, 1.0, 4.0) is False  # a first miss again
    assert routing.failed(peer.id, 5.0, 7.0) is True


def test_a_contact_not_in_the_table_leaves_no_count_behind() -> None:
    rng = random.Random(3)
    routing = table(contact(rng))
    stranger = contact(rng, "10.1.0.1")
    for at in range(100):
        assert routing.failed(stranger.id, float(at), at + 2.0) is True
    assert not routing.failures and not routing._failed_at
