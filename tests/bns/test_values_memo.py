"""BnsValues.accept remembers what it answered: the same bytes are not validated again."""

from __future__ import annotations

import pytest

from badgechain.bns import values
from badgechain.bns.errors import RecordError
from badgechain.bns.record import Record, accept_store, derive_dht_key, make_revocation
from badgechain.bns.values import BnsValues, address_of_key
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import KeyPair
from tests.bns.network import make_badge_entry

ALICE = KeyPair.from_seed(bytes(range(32)))
BOB = KeyPair.from_seed(bytes(range(1, 33)))


def test_the_same_arguments_are_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = make_badge_entry(ALICE, BOB)
    address = address_of_key(derive_dht_key(entry.uid))
    plain = Record(entry).to_wire_bytes()
    revoked = Record(entry, None, make_revocation(ALICE, entry.uid, "no", 3)).to_wire_bytes()
    validated: list[object] = []

    def counted(current: object, incoming: object, difficulty: int = 0) -> object:
        validated.append(incoming)
        return accept_store(current, incoming, difficulty)  # type: ignore[arg-type]

    monkeypatch.setattr(values, "accept_store", counted)
    policy = BnsValues()
    for _ in range(3):  # the replicas' answers of fetch after fetch
        assert policy.accept(address, None, plain) == plain
    for _ in range(2):  # a fetch merging with its own copy, then storing the merge here
        assert policy.accept(address, plain, revoked) == revoked
    assert len(validated) == 2


def test_a_refusal_is_never_remembered() -> None:
    entry = make_badge_entry(ALICE, BOB)
    elsewhere = address_of_key(derive_dht_key(make_badge_entry(ALICE, BOB).uid))
    policy = BnsValues()
    for _ in range(2):
        with pytest.raises(BadgeChainError) as refused:
            policy.accept(elsewhere, None, Record(entry).to_wire_bytes())
        assert isinstance(refused.value, RecordError)
        assert refused.value.code == "address_mismatch"
