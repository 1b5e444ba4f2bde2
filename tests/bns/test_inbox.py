"""Inbox announcements: key, codec, signature, merge as a CRDT, forgeries, garbage, dispatch."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.bns.errors import RecordError
from badgechain.bns.inbox import (
    DOMAIN_INBOX,
    DOMAIN_INBOX_KEY,
    INBOX_KIND,
    InboxRecord,
    accept_inbox_record,
    inbox_key,
    make_inbox_record,
    merge_inbox_records,
    validate_inbox_record,
)
from badgechain.bns.index import DOMAIN_EARNER_PAGE_KEY, EarnerPage, earner_page_key
from badgechain.bns.record import MAX_URL_CHARS, MAX_VALUE_BYTES, make_location, valid_url
from badgechain.bns.values import BnsValues, address_of_key, decode_value, key_of
from badgechain.bns.wire import WIRE_VERSION, pack
from badgechain.chain.errors import DecodeError
from badgechain.chain.keys import KeyPair

BOB = KeyPair.from_seed(bytes(range(1, 33)))  # the earner announcing his inbox
MALLORY = KeyPair.from_seed(bytes(range(2, 34)))  # a stranger
URL = "https://bob.example/inbox"
LAST_SEQ = 2**64 - 1


@functools.cache
def _record(seq: int, url: str = URL, key: KeyPair = BOB) -> InboxRecord:
    return make_inbox_record(key, url, seq)


def _code(action: Callable[[], object]) -> str:
    with pytest.raises(RecordError) as caught:
        action()
    return caught.value.code


# Few seqs and URLs, so merges meet equal seqs with different URLs (two valid writes).
valid_records = st.builds(
    _record, st.integers(0, 3), st.sampled_from([URL, "http://127.0.0.1:4880/inbox"])
)


# --- key and codec ----------------------------------------------------------------------------


def test_key_is_the_domain_tagged_hash_of_the_public_key() -> None:
    expected = hashlib.sha256(DOMAIN_INBOX_KEY + BOB.public_key).digest()
    assert inbox_key(BOB.public_key) == expected
    assert _record(1).key == expected
    assert inbox_key(BOB.public_key) != earner_page_key(BOB.public_key, 0)
    assert DOMAIN_INBOX_KEY != DOMAIN_EARNER_PAGE_KEY


def test_key_needs_a_32_byte_public_key() -> None:
    assert _code(lambda: inbox_key(bytes(31))) == "record_malformed"  # type: ignore[arg-type]


def test_wire_form_is_kind_version_key_url_seq_signature() -> None:
    record = _record(7)
    assert record.to_wire_bytes() == pack(
        [INBOX_KIND, WIRE_VERSION, BOB.public_key, URL, 7, record.signature]
    )
    assert record.signed_bytes() == DOMAIN_INBOX + pack(
        [INBOX_KIND, WIRE_VERSION, BOB.public_key, URL, 7]
    )
    assert record.did == BOB.did


@settings(max_examples=50, deadline=None)
@given(record=valid_records)
def test_decode_of_encode_is_identity(record: InboxRecord) -> None:
    assert InboxRecord.from_wire_bytes(record.to_wire_bytes()) == record
    assert decode_value(record.to_wire_bytes()) == record


def test_the_largest_announcement_fits_one_datagram() -> None:
    url = "https://" + "a" * (MAX_URL_CHARS - len("https://"))
    record = _record(LAST_SEQ, url)
    assert len(record.to_wire_bytes()) <= MAX_VALUE_BYTES
    assert validate_inbox_record(record) == record


@pytest.mark.parametrize(
    "url",
    [
        "ftp://bob.example/inbox",
        "https://bob.example/ïnbox",
        "https://" + "a" * MAX_URL_CHARS,
        "https://bob example/inbox",
        "",
        b"https://bob.example/inbox",
    ],
)
def test_bad_urls_are_refused(url: object) -> None:
    assert not valid_url(url)
    assert _code(lambda: make_inbox_record(BOB, url, 1)) == "record_malformed"  # type: ignore[arg-type]


@pytest.mark.parametrize("seq", [-1, 2**64, True])
def test_seq_is_an_unsigned_64_bit_integer(seq: int) -> None:
    assert _code(lambda: make_inbox_record(BOB, URL, seq)) == "record_malformed"


# --- validation -------------------------------------------------------------------------------


GENUINE = _record(2)


@pytest.mark.parametrize(
    "forged",
    [
        replace(GENUINE, signature=bytes(64)),
        replace(GENUINE, url="https://mallory.example/inbox"),  # Bob's signature, other URL
        replace(GENUINE, seq=3),
        InboxRecord(BOB.public_key, URL, 2, MALLORY.sign(GENUINE.signed_bytes())),
    ],
)
def test_a_forged_signature_is_refused(forged: InboxRecord) -> None:
    assert _code(lambda: validate_inbox_record(forged)) == "inbox_signature_invalid"
    assert _code(lambda: accept_inbox_record(GENUINE, forged)) == "inbox_signature_invalid"


def test_a_location_signature_does_not_verify_as_an_announcement() -> None:
    location = make_location(BOB, bytes(64), (URL,), 1)  # type: ignore[arg-type]
    replayed = InboxRecord(BOB.public_key, URL, 1, location.signature)
    assert _code(lambda: validate_inbox_record(replayed)) == "inbox_signature_invalid"


def test_accept_keeps_the_newest_valid_announcement() -> None:
    assert accept_inbox_record(None, _record(1)) == _record(1)
    assert accept_inbox_record(_record(1), _record(2)) == _record(2)
    assert accept_inbox_record(_record(2), _record(1)) == _record(2)  # late arrival: no error


def test_announcements_of_two_keys_do_not_merge() -> None:
    assert _code(lambda: merge_inbox_records(_record(1), _record(1, key=MALLORY))) == (
        "inbox_key_mismatch"
    )


# --- merge is a CRDT --------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(a=valid_records, b=valid_records)
def test_merge_is_commutative_and_keeps_the_highest_seq(a: InboxRecord, b: InboxRecord) -> None:
    merged = merge_inbox_records(a, b)
    assert merged == merge_inbox_records(b, a)
    assert merged.seq == max(a.seq, b.seq)
    assert merged in (a, b)


@settings(max_examples=100, deadline=None)
@given(a=valid_records, b=valid_records, c=valid_records)
def test_merge_is_associative_and_idempotent(
    a: InboxRecord, b: InboxRecord, c: InboxRecord
) -> None:
    left = merge_inbox_records(merge_inbox_records(a, b), c)
    assert left == merge_inbox_records(a, merge_inbox_records(b, c))
    assert merge_inbox_records(a, a) == a


@settings(max_examples=50, deadline=None)
@given(records=st.lists(valid_records, min_size=1, max_size=6), data=st.data())
def test_any_arrival_order_gives_the_same_value(
    records: list[InboxRecord], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(records))
    held: InboxRecord | None = None
    for record in shuffled:
        held = accept_inbox_record(held, record)
    expected = functools.reduce(merge_inbox_records, records)
    assert held == expected


# --- garbage ----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(garbage=st.binary(max_size=MAX_VALUE_BYTES + 10))
def test_garbage_raises_decode_error_only(garbage: bytes) -> None:
    with pytest.raises(DecodeError):
        InboxRecord.from_wire_bytes(garbage)


@settings(max_examples=200, deadline=None)
@given(position=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_a_flipped_bit_is_refused(position: int, bit: int) -> None:
    wire = bytearray(_record(3).to_wire_bytes())
    wire[position % len(wire)] ^= 1 << bit
    try:
        record = InboxRecord.from_wire_bytes(bytes(wire))
    except DecodeError:
        return
    assert _code(lambda: validate_inbox_record(record)) == "inbox_signature_invalid"


@pytest.mark.parametrize(
    "fields",
    [
        [INBOX_KIND, WIRE_VERSION, BOB.public_key, URL, 1],  # no signature
        [INBOX_KIND, WIRE_VERSION + 1, BOB.public_key, URL, 1, bytes(64)],
        [INBOX_KIND, WIRE_VERSION, bytes(31), URL, 1, bytes(64)],
        [INBOX_KIND, WIRE_VERSION, BOB.public_key, "ftp://x", 1, bytes(64)],
        [INBOX_KIND, WIRE_VERSION, BOB.public_key, URL, -1, bytes(64)],
        [INBOX_KIND, WIRE_VERSION, BOB.public_key, URL, 1, bytes(63)],
        [INBOX_KIND, WIRE_VERSION, BOB.public_key, [URL], 1, bytes(64)],
        ["bns/earner-page", WIRE_VERSION, BOB.public_key, URL, 1, bytes(64)],
        {"kind": INBOX_KIND},
    ],
)
def test_malformed_values_raise_decode_error(fields: object) -> None:
    with pytest.raises(DecodeError):
        InboxRecord.from_wire_bytes(pack(fields))  # type: ignore[arg-type]


def test_an_oversized_value_is_refused_before_decoding() -> None:
    with pytest.raises(DecodeError):
        InboxRecord.from_wire_bytes(pack([INBOX_KIND, "x" * MAX_VALUE_BYTES]))


# --- the DHT's value policy -------------------------------------------------------------------


def test_values_dispatch_stores_and_merges_announcements() -> None:
    values = BnsValues()
    address = address_of_key(inbox_key(BOB.public_key))
    old, new = _record(1).to_wire_bytes(), _record(2).to_wire_bytes()
    assert values.address_of(old) == address
    assert key_of(decode_value(old)) == inbox_key(BOB.public_key)
    assert values.accept(address, None, old) == old
    assert values.accept(address, old, new) == new
    assert values.accept(address, new, old) == new


def test_values_refuse_forged_or_misplaced_announcements() -> None:
    values = BnsValues()
    address = address_of_key(inbox_key(BOB.public_key))
    forged = replace(_record(1), url="https://mallory.example/inbox").to_wire_bytes()
    assert _code(lambda: values.accept(address, None, forged)) == "inbox_signature_invalid"
    elsewhere = address_of_key(inbox_key(MALLORY.public_key))
    assert _code(lambda: values.accept(elsewhere, None, _record(1).to_wire_bytes())) == (
        "address_mismatch"
    )


def test_an_announcement_never_decodes_as_an_index_page() -> None:
    with pytest.raises(DecodeError):
        EarnerPage.from_wire_bytes(_record(1).to_wire_bytes())
