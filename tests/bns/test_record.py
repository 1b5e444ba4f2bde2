"""BNS records: codecs, signatures, merge as a CRDT, and the attacks the design names."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type information
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.bns import record as record_module
from badgechain.bns.errors import RecordError
from badgechain.bns.record import (
    DOMAIN_ENTRY,
    DOMAIN_LOCATION,
    DOMAIN_REVOCATION,
    MAX_NEW_REASON_BYTES,
    MAX_REASON_BYTES,
    MAX_STAMP_DIFFICULTY,
    MAX_URL_CHARS,
    MAX_URLS,
    MAX_URLS_TOTAL_CHARS,
    MAX_VALUE_BYTES,
    Entry,
    Location,
    Record,
    Revocation,
    Uid,
    accept_store,
    check_location_update,
    check_stamp,
    derive_dht_key,
    entry_from_badge,
    make_entry,
    make_location,
    make_revocation,
    merge,
    mint_stamp,
    stamp_bits,
    validate_record,
    verify_entry,
)
from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.errors import DecodeError
from badgechain.chain.keys import KeyPair, verify_signature
from badgechain.chain.proof import proof_value_bytes, sign_credential

CREATED = 1_700_000_000
ALICE = KeyPair.from_seed(bytes(range(32)))  # the issuer
BOB = KeyPair.from_seed(bytes(range(1, 33)))  # the earner
MALLORY = KeyPair.from_seed(bytes(range(2, 34)))  # a stranger


@dataclass(frozen=True)
class Badge:
    document: dict[str, Any]
    entry: Entry

    @property
    def uid(self) -> Uid:
        return self.entry.uid


@functools.cache
def _badge() -> Badge:
    """One real badge Alice issued to Bob, built once (signing costs tens of milliseconds)."""
    when = datetime(2024, 5, 1, tzinfo=UTC)
    achievement = build_achievement(
        ALICE.did,
        achievement_id="https://alice.example/achievements/1",
        name="Rust",
        description="Writes safe systems code",
        criteria="Passed the exam",
    )
    credential = build_credential(
        issuer_did=ALICE.did,
        subject_id=BOB.did,
        achievement=achievement,
        valid_from=when,
        credential_id="urn:uuid:8d0c9a9e-2f4c-4f1a-9a51-6a3b0b6f2a10",
    )
    document = sign_credential(credential, ALICE, created=when)
    return Badge(document, entry_from_badge(document, ALICE, BOB.public_key, CREATED))


@pytest.fixture(scope="module")
def badge() -> Badge:
    return _badge()


def _location(seq: int, urls: tuple[str, ...] = ("https://bob.example/b/1",)) -> Location:
    return make_location(BOB, _badge().uid, urls, seq)


def _revocation(revoked_at: int, reason: str = "issued in error") -> Revocation:
    return make_revocation(ALICE, _badge().uid, reason, revoked_at)


# --- strategies -------------------------------------------------------------------------------

_URLS = st.lists(
    st.sampled_from(["https://bob.example/b/1", "http://[::1]:8080/x?y=1", "https://a.b/#f"]),
    max_size=MAX_URLS,
).map(tuple)
locations = st.builds(_location, st.integers(0, 4), _URLS)
revocations = st.builds(_revocation, st.integers(0, 3), st.sampled_from(["", "fraud", "érreur"]))
records = st.builds(
    lambda loc, rev: Record(_badge().entry, loc, rev),
    st.none() | locations,
    st.none() | revocations,
)


# --- identity and encoding --------------------------------------------------------------------


def test_entry_of_a_real_badge_binds_uid_to_its_proof(badge: Badge) -> None:
    assert badge.uid == proof_value_bytes(badge.document["proof"])
    assert verify_signature(ALICE.public_key, badge.entry.signing_input, badge.uid)
    verify_entry(badge.entry)
    assert badge.entry.location_writer == BOB.public_key


def test_dht_key_is_32_bytes_and_depends_on_the_uid(badge: Badge) -> None:
    key = derive_dht_key(badge.uid)
    assert len(key) == 32
    assert key != derive_dht_key(Uid(bytes(64)))
    assert key == derive_dht_key(Uid(bytes(badge.uid)))


@settings(max_examples=50, deadline=None)
@given(record=records)
def test_record_round_trips(record: Record) -> None:
    assert Record.from_wire_bytes(record.to_wire_bytes()) == record
    assert validate_record(record) is record


@settings(max_examples=30, deadline=None)
@given(location=locations, revocation=revocations)
def test_parts_round_trip(location: Location, revocation: Revocation) -> None:
    entry = _badge().entry
    assert Entry.from_wire_bytes(entry.to_wire_bytes()) == entry
    assert Location.from_wire_bytes(location.to_wire_bytes()) == location
    assert Revocation.from_wire_bytes(revocation.to_wire_bytes()) == revocation


def _reject(record_bytes: bytes) -> None:
    """A value that must not be accepted: decoding fails or validation does."""
    with pytest.raises((DecodeError, RecordError)):
        validate_record(Record.from_wire_bytes(record_bytes))


@settings(max_examples=100, deadline=None)
@given(record=records, data=st.data())
def test_a_flipped_byte_anywhere_is_rejected(record: Record, data: st.DataObject) -> None:
    wire = bytearray(record.to_wire_bytes())
    index = data.draw(st.integers(0, len(wire) - 1))
    wire[index] ^= data.draw(st.integers(1, 255))
    _reject(bytes(wire))


@settings(max_examples=200, deadline=None)
@given(garbage=st.binary(max_size=MAX_VALUE_BYTES + 10))
def test_garbage_raises_decode_error_only(garbage: bytes) -> None:
    for kind in (Record, Entry, Location, Revocation):
        with pytest.raises(DecodeError):
            kind.from_wire_bytes(garbage)


def test_every_truncation_raises_decode_error(badge: Badge) -> None:
    wire = Record(badge.entry, _location(1), _revocation(5)).to_wire_bytes()
    for end in range(len(wire)):
        with pytest.raises(DecodeError):
            Record.from_wire_bytes(wire[:end])


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda w: w + b"\x00", "decode_error"),  # trailing bytes
        (lambda w: b"\x94\x02" + w[2:], "version_unknown"),
        (lambda w: b"\xdc\x00\x04" + w[1:], "not_canonical"),  # array16 for a 4-array
        (lambda w: b"\x00" * (MAX_VALUE_BYTES + 1), "value_too_large"),
    ],
)
def test_malformed_wire_codes(badge: Badge, mutate: Any, code: str) -> None:
    wire = Record(badge.entry, _location(1)).to_wire_bytes()
    with pytest.raises(DecodeError) as caught:
        Record.from_wire_bytes(mutate(wire))
    assert caught.value.code == code


@pytest.mark.parametrize(
    "fields",
    [
        [1, b"\x00" * 64, [True], 1, b"\x00" * 64],  # a URL that is not text
        [1, b"\x00" * 64, ["ftp://x.example/"], 1, b"\x00" * 64],  # not http(s)
        [1, b"\x00" * 64, ["https://x/"] * (MAX_URLS + 1), 1, b"\x00" * 64],
        [1, b"\x00" * 64, [], -1, b"\x00" * 64],  # negative seq
        [1, b"\x00" * 64, [], True, b"\x00" * 64],  # a bool is not a seq
        [1, b"\x00" * 63, [], 1, b"\x00" * 64],  # short UID
        [1, "text", [], 1, b"\x00" * 64],
        [True, b"\x00" * 64, [], 1, b"\x00" * 64],  # a bool is not a version
        {"1": 1},
    ],
)
def test_wrong_types_and_bounds_are_decode_errors(fields: Any) -> None:
    with pytest.raises(DecodeError):
        Location.from_wire_bytes(msgpack.packb(fields, use_bin_type=True))


def test_worst_case_record_fits_one_datagram(badge: Badge) -> None:
    entry = replace(badge.entry, created=2**64 - 1)
    share = MAX_URLS_TOTAL_CHARS // MAX_URLS
    urls = tuple("https://x.example/" + "a" * (share - 18) for _ in range(MAX_URLS))
    assert sum(map(len, urls)) == MAX_URLS_TOTAL_CHARS
    longest = ("https://x.example/" + "a" * (MAX_URL_CHARS - 18),)
    reason = "é" * (MAX_REASON_BYTES // 2)
    revocation = Revocation(badge.uid, reason, 2**64 - 1, bytes(64))
    for chosen in (urls, longest):
        record = Record(entry, Location(badge.uid, chosen, 2**64 - 1, bytes(64)), revocation)
        assert len(record.to_wire_bytes()) <= MAX_VALUE_BYTES


@pytest.mark.parametrize(
    "build",
    [
        lambda uid: Location(uid, ("https://x.example/" + "a" * MAX_URL_CHARS,), 0, bytes(64)),
        lambda uid: Location(uid, ("https://x.example/" + "a" * 200,) * 3, 0, bytes(64)),
        lambda uid: Location(uid, ("https://x.example/a b",), 0, bytes(64)),
        lambda uid: Revocation(uid, "x" * (MAX_REASON_BYTES + 1), 0, bytes(64)),
        lambda uid: Revocation(uid, "\ud800", 0, bytes(64)),  # not encodable as UTF-8
    ],
)
def test_bounds_are_checked_when_a_part_is_built(badge: Badge, build: Any) -> None:
    with pytest.raises(RecordError) as caught:
        build(badge.uid)
    assert caught.value.code == "record_malformed"


# --- signatures and the attacks -------------------------------------------------------------


def _code(record: Record) -> str:
    with pytest.raises(RecordError) as caught:
        validate_record(record)
    return caught.value.code


def test_stranger_cannot_claim_alices_uid(badge: Badge) -> None:
    stolen = make_entry(MALLORY, badge.uid, badge.entry.signing_input, MALLORY.public_key, 1)
    assert _code(Record(stolen)) == "uid_not_issuer_signature"


def test_stranger_cannot_reuse_alices_entry_with_another_earner(badge: Badge) -> None:
    forged = replace(badge.entry, earner_key=MALLORY.public_key)
    assert _code(Record(forged)) == "entry_signature_invalid"


def test_location_by_a_non_earner_is_rejected(badge: Badge) -> None:
    for writer in (ALICE, MALLORY):
        location = make_location(writer, badge.uid, ("https://evil.example/",), 9)
        assert _code(Record(badge.entry, location)) == "location_signature_invalid"


def test_email_only_badge_location_is_written_by_the_issuer(badge: Badge) -> None:
    entry = make_entry(ALICE, badge.uid, badge.entry.signing_input, None, CREATED)
    mine = make_location(ALICE, badge.uid, ("https://alice.example/b/1",), 0)
    assert validate_record(Record(entry, mine)).location == mine
    bobs = make_location(BOB, badge.uid, ("https://bob.example/",), 1)
    assert _code(Record(entry, bobs)) == "location_signature_invalid"


def test_revocation_by_earner_or_stranger_is_rejected(badge: Badge) -> None:
    for writer in (BOB, MALLORY):
        revocation = make_revocation(writer, badge.uid, "nope", 3)
        assert _code(Record(badge.entry, None, revocation)) == "revocation_signature_invalid"


def test_a_signature_never_verifies_as_another_kind(badge: Badge) -> None:
    assert len({DOMAIN_ENTRY, DOMAIN_LOCATION, DOMAIN_REVOCATION}) == 3
    # Issuer-signed revocation bytes re-used as a location of an issuer-written entry.
    entry = make_entry(ALICE, badge.uid, badge.entry.signing_input, None, CREATED)
    revocation = _revocation(7)
    replayed = Location(badge.uid, (), 7, revocation.signature)
    assert _code(Record(entry, replayed)) == "location_signature_invalid"
    # A location signature over the same canonical bytes, but with the revocation domain.
    as_location = make_location(ALICE, badge.uid, (), 7)
    payload = as_location.signed_bytes()[len(DOMAIN_LOCATION) :]
    assert verify_signature(ALICE.public_key, DOMAIN_LOCATION + payload, as_location.signature)
    assert not verify_signature(
        ALICE.public_key, DOMAIN_REVOCATION + payload, as_location.signature
    )


def test_parts_of_another_uid_are_a_mismatch(badge: Badge) -> None:
    other = make_location(BOB, Uid(bytes(64)), (), 1)
    with pytest.raises(RecordError) as caught:
        Record(badge.entry, other)
    assert caught.value.code == "uid_mismatch"


def test_badge_with_a_proof_set_is_refused(badge: Badge) -> None:
    document = badge.document | {"proof": [badge.document["proof"]] * 2}
    with pytest.raises(RecordError) as caught:
        entry_from_badge(document, ALICE, BOB.public_key, CREATED)
    assert caught.value.code == "badge_proof_invalid"


# --- merge ------------------------------------------------------------------------------------


def _fold(items: list[Record]) -> Record:
    return functools.reduce(merge, items)


@settings(max_examples=60, deadline=None)
@given(items=st.lists(records, min_size=1, max_size=5), seed=st.randoms(use_true_random=False))
def test_merge_is_order_free(items: list[Record], seed: Any) -> None:
    expected = _fold(items).to_wire_bytes()
    shuffled = list(items)
    seed.shuffle(shuffled)
    assert _fold(shuffled).to_wire_bytes() == expected
    assert _fold(items + shuffled).to_wire_bytes() == expected  # idempotent


@settings(max_examples=60, deadline=None)
@given(a=records, b=records, c=records)
def test_merge_is_commutative_associative_idempotent(a: Record, b: Record, c: Record) -> None:
    assert merge(a, b) == merge(b, a)
    assert merge(merge(a, b), c) == merge(a, merge(b, c))
    assert merge(a, a) == a


@settings(max_examples=40, deadline=None)
@given(revoked=records.filter(lambda r: r.revocation is not None), other=records)
def test_revocation_is_never_undone(revoked: Record, other: Record) -> None:
    unrevoked = replace(other, revocation=None)
    assert merge(revoked, unrevoked).revocation == revoked.revocation
    assert merge(unrevoked, revoked).revocation == revoked.revocation


def test_merge_picks_higher_seq_and_earliest_revocation(badge: Badge) -> None:
    a = Record(badge.entry, _location(1), _revocation(9))
    b = Record(badge.entry, _location(2), _revocation(4))
    merged = merge(a, b)
    assert merged.location == _location(2)
    assert merged.revocation == _revocation(4)


def test_equal_seq_is_broken_by_signature_bytes(badge: Badge) -> None:
    x, y = _location(3, ("https://a.b/1",)), _location(3, ("https://a.b/2",))
    winner = max(x, y, key=lambda loc: loc.signature)
    assert merge(Record(badge.entry, x), Record(badge.entry, y)).location == winner


def test_conflicting_entry_is_refused(badge: Badge) -> None:
    other = make_entry(ALICE, badge.uid, badge.entry.signing_input, None, CREATED)
    with pytest.raises(RecordError) as caught:
        merge(Record(badge.entry), Record(other))
    assert caught.value.code == "entry_conflict"


# --- storing ----------------------------------------------------------------------------------


def test_accept_store_keeps_the_merge(badge: Badge) -> None:
    held = accept_store(None, Record(badge.entry, _location(2)))
    assert accept_store(held, Record(badge.entry, _location(1))) == held  # older: a no-op
    newer = accept_store(held, Record(badge.entry, _location(3), _revocation(1)))
    assert newer == Record(badge.entry, _location(3), _revocation(1))


def test_accept_store_rejects_forgeries_and_conflicts(badge: Badge) -> None:
    held = Record(badge.entry, _location(2))
    forged = Record(badge.entry, make_location(MALLORY, badge.uid, (), 99))
    with pytest.raises(RecordError, match="not signed"):
        accept_store(held, forged)
    other = make_entry(ALICE, badge.uid, badge.entry.signing_input, None, CREATED)
    with pytest.raises(RecordError, match="different entries"):
        accept_store(held, Record(other))


def test_check_location_update_flags_stale_writes(badge: Badge) -> None:
    held = Record(badge.entry, _location(2))
    check_location_update(None, _location(0))
    check_location_update(held, _location(3))
    check_location_update(held, _location(2))  # the same part again: a republish
    for seq, urls in itertools.product((1, 2), (("https://other.example/",),)):
        with pytest.raises(RecordError) as caught:
            check_location_update(held, _location(seq, urls))
        assert caught.value.code == "stale"


# --- proof-of-work stamps -------------------------------------------------------------------


@pytest.mark.parametrize("difficulty", [0, 4, 12])
def test_stamp_meets_the_difficulty_it_was_minted_for(badge: Badge, difficulty: int) -> None:
    entry = make_entry(
        ALICE, badge.uid, badge.entry.signing_input, BOB.public_key, CREATED, difficulty=difficulty
    )
    assert stamp_bits(entry.uid, entry.stamp) >= difficulty
    check_stamp(entry, difficulty)
    validate_record(Record(entry), difficulty)


def test_entry_without_stamp_is_refused_where_the_network_asks_for_work(badge: Badge) -> None:
    # The seeded entry has stamp 0; find a difficulty that stamp does not meet.
    difficulty = stamp_bits(badge.uid, badge.entry.stamp) + 1
    with pytest.raises(RecordError) as caught:
        accept_store(None, Record(badge.entry), difficulty)
    assert caught.value.code == "stamp_insufficient"
    accept_store(None, Record(badge.entry), 0)  # a network without work accepts it


def test_stamp_is_signed_so_nobody_swaps_it(badge: Badge) -> None:
    entry = make_entry(ALICE, badge.uid, badge.entry.signing_input, BOB.public_key, CREATED)
    swapped = replace(entry, stamp=mint_stamp(entry.uid, 8))
    with pytest.raises(RecordError) as caught:
        verify_entry(swapped)
    assert caught.value.code == "entry_signature_invalid"


@pytest.mark.parametrize("difficulty", [-1, MAX_STAMP_DIFFICULTY + 1])
def test_difficulty_out_of_range_is_refused(badge: Badge, difficulty: int) -> None:
    with pytest.raises(RecordError) as caught:
        mint_stamp(badge.uid, difficulty)
    assert caught.value.code == "difficulty_invalid"


def test_a_long_reason_an_older_node_signed_still_decodes(badge: Badge) -> None:
    """A revocation must never stop decoding: a reason of up to 256 bytes (the limit before
    hand-overs) is read, while a node writes at most MAX_NEW_REASON_BYTES."""
    reason = "r" * MAX_REASON_BYTES
    unsigned = Revocation(badge.uid, reason, 7, bytes(64))
    old = Revocation(badge.uid, reason, 7, record_module._sign(ALICE, unsigned))
    record = Record(badge.entry, None, old)
    assert Record.from_wire_bytes(record.to_wire_bytes()).revocation == old
    with pytest.raises(RecordError) as refused:
        make_revocation(ALICE, badge.uid, "r" * (MAX_NEW_REASON_BYTES + 1), 7)
    assert refused.value.code == "reason_invalid"
    assert make_revocation(ALICE, badge.uid, "r" * MAX_NEW_REASON_BYTES, 7).reason
