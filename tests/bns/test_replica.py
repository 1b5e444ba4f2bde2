"""A replica's pure decisions (bns/replica.py), with the real BNS value policy."""

from __future__ import annotations

import random

from badgechain.bns.record import Record, make_location, make_revocation
from badgechain.bns.replica import decide_store, hands_over, merge_answers
from badgechain.bns.values import BnsValues
from badgechain.chain.keys import KeyPair
from tests.bns.network import make_badge_entry

ISSUER, EARNER = KeyPair.generate(), KeyPair.generate()
POLICY = BnsValues()


def test_a_store_is_kept_merged_refused_or_stale() -> None:
    entry = make_badge_entry(ISSUER, EARNER)
    first = Record(entry).to_wire_bytes()
    moved = Record(
        entry, make_location(EARNER, entry.uid, ("https://a.example/",), 2)
    ).to_wire_bytes()
    address = POLICY.address_of(first)
    assert decide_store(POLICY, address, None, first).write == first
    assert decide_store(POLICY, address, None, first).same_as_sender
    assert decide_store(POLICY, address, first, first).write is None  # held already
    assert decide_store(POLICY, address, first, moved).write == moved
    assert decide_store(POLICY, address, moved, first).code == "stale"
    assert decide_store(POLICY, b"short", None, first).code == "address_invalid"
    assert decide_store(POLICY, address, None, "text").code == "value_invalid"
    assert decide_store(POLICY, address, None, bytes(1201)).code == "value_too_large"
    refused = decide_store(POLICY, bytes(20), None, first)
    assert refused.code == "address_mismatch" and refused.error is not None


def test_answers_merge_nearest_first_and_forged_ones_are_dropped() -> None:
    entry = make_badge_entry(ISSUER, EARNER)
    plain = Record(entry).to_wire_bytes()
    revoked = Record(entry, None, make_revocation(ISSUER, entry.uid, "r", 5)).to_wire_bytes()
    address = POLICY.address_of(plain)
    forged = Record(make_badge_entry(KeyPair.generate(), None)).to_wire_bytes()
    answers = [
        (bytes(20), {"value": plain}),
        (b"\xff" * 20, {"value": revoked}),
        (b"\x01" * 20, {"value": forged}),  # belongs elsewhere
        (b"\x02" * 20, [["contacts"]]),
    ]
    merge = merge_answers(POLICY, address, answers)
    assert merge.value == revoked and merge.holders == 2
    assert [index for index, _ in merge.dropped] == [2]
    assert merge_answers(POLICY, address, [], (None, plain)).value == plain  # own writes count


def test_a_value_is_handed_over_by_its_nearest_replicas_only() -> None:
    rng = random.Random(4)
    address = rng.randbytes(20)
    target = int.from_bytes(address, "big")
    ids = sorted(
        (rng.randbytes(20) for _ in range(30)), key=lambda i: int.from_bytes(i, "big") ^ target
    )
    nearest, far = ids[0], ids[-1]
    known = ids[1:21]  # the k = 20 nearest this replica knows
    assert hands_over(address, me=ids[1], newcomer=nearest, neighbours=known, k=20, senders=3)
    assert not hands_over(address, me=ids[5], newcomer=nearest, neighbours=known, k=20, senders=3)
    assert not hands_over(address, me=ids[1], newcomer=far, neighbours=known, k=20, senders=3)
    assert hands_over(address, me=ids[1], newcomer=far, neighbours=known[:5], k=20, senders=3)
