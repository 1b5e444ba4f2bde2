"""BNS indexes: page keys, codecs, merge as a CRDT, forgeries, size bounds and a big issuer."""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type information
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.bns.errors import RecordError
from badgechain.bns.index import (
    DOMAIN_EARNER_ITEM,
    DOMAIN_EARNER_PAGE_KEY,
    DOMAIN_ISSUER_ITEM,
    DOMAIN_ISSUER_PAGE_KEY,
    EARNER_PAGE_ITEMS,
    ISSUER_PAGE_ITEMS,
    EarnerItem,
    EarnerPage,
    IssuerItem,
    IssuerPage,
    accept_earner_page,
    accept_issuer_page,
    add_many_to_page,
    add_to_page,
    earner_item_signed_bytes,
    earner_page_key,
    issuer_item_signed_bytes,
    issuer_page_key,
    make_earner_item,
    make_issuer_item,
    merge_earner_pages,
    merge_issuer_pages,
    page_is_full,
    page_room,
    validate_earner_page,
    validate_issuer_page,
)
from badgechain.bns.record import (
    DOMAIN_DHT_KEY,
    DOMAIN_ENTRY,
    DOMAIN_LOCATION,
    DOMAIN_REVOCATION,
    DOMAIN_STAMP,
    MAX_VALUE_BYTES,
    Entry,
    Location,
    Record,
    Revocation,
    Uid,
    make_entry,
    make_location,
    stamp_bits,
)
from badgechain.bns.wire import pack
from badgechain.chain.errors import DecodeError
from badgechain.chain.keys import KeyPair

CREATED = 1_700_000_000
ALICE = KeyPair.from_seed(bytes(range(32)))  # the issuer
BOB = KeyPair.from_seed(bytes(range(1, 33)))  # the earner
MALLORY = KeyPair.from_seed(bytes(range(2, 34)))  # a stranger
LAST_PAGE = 2**64 - 1

_Page = TypeVar("_Page", IssuerPage, EarnerPage)


def _uid(n: int) -> Uid:
    """A 64-byte UID: issuer items sign whatever UID they are given."""
    return Uid(hashlib.sha512(b"uid" + n.to_bytes(8, "big")).digest())


@functools.cache
def _item(n: int, page: int = 0, issuer: KeyPair = ALICE) -> IssuerItem:
    return make_issuer_item(issuer, page, _uid(n))


@functools.cache
def _entry(n: int, created: int = CREATED, earner: KeyPair = BOB, difficulty: int = 0) -> Entry:
    """A valid entry by Alice: its UID is her signature over a 64-byte signing input."""
    signing_input = hashlib.sha512(b"badge" + n.to_bytes(8, "big")).digest()
    uid = Uid(ALICE.sign(signing_input))
    return make_entry(ALICE, uid, signing_input, earner.public_key, created, difficulty=difficulty)


@functools.cache
def _earner_item(n: int, created: int = CREATED, page: int = 0, difficulty: int = 0) -> EarnerItem:
    """Alice's entry `n` for Bob, signed by him for page `page` of his index."""
    return make_earner_item(BOB, page, _entry(n, created, difficulty=difficulty))


def _issuer_page(items: list[IssuerItem], page: int = 0) -> IssuerPage:
    return IssuerPage(ALICE.public_key, page, tuple(sorted(items, key=lambda item: item.uid)))


def _earner_page(items: list[EarnerItem], page: int = 0) -> EarnerPage:
    return EarnerPage(BOB.public_key, page, tuple(sorted(items, key=lambda item: item.uid)))


def _code(action: Callable[[], object]) -> str:
    with pytest.raises(RecordError) as caught:
        action()
    return caught.value.code


# --- strategies -------------------------------------------------------------------------------

# Few UIDs, so merges meet one UID twice and overflow a page. Items with a made-up signature
# give one UID two different items (merge does not validate: stores hold validated pages).
valid_issuer_items = st.builds(_item, st.integers(0, 11))
issuer_items = valid_issuer_items | st.builds(
    lambda n, fill: IssuerItem(_uid(n), bytes([fill]) * 64), st.integers(0, 11), st.integers(0, 2)
)
# Alice can sign two entries for one UID (another `created`): both valid, merge picks one.
valid_earner_items = st.builds(
    _earner_item, st.integers(0, 7), st.sampled_from([CREATED, CREATED + 1])
)
earner_items = valid_earner_items | st.builds(
    lambda n, fill: EarnerItem(_entry(n), bytes([fill]) * 64), st.integers(0, 7), st.integers(0, 2)
)


def _uid_of(item: IssuerItem | EarnerItem) -> bytes:
    return item.uid


issuer_pages = st.lists(issuer_items, max_size=ISSUER_PAGE_ITEMS, unique_by=_uid_of).map(
    _issuer_page
)
valid_issuer_pages = st.lists(
    valid_issuer_items, max_size=ISSUER_PAGE_ITEMS, unique_by=_uid_of
).map(_issuer_page)
earner_pages = st.lists(earner_items, max_size=EARNER_PAGE_ITEMS, unique_by=_uid_of).map(
    _earner_page
)
valid_earner_pages = st.lists(
    valid_earner_items, max_size=EARNER_PAGE_ITEMS, unique_by=_uid_of
).map(_earner_page)
issuer_page_lists = st.lists(issuer_pages, min_size=1, max_size=5)
earner_page_lists = st.lists(earner_pages, min_size=1, max_size=5)


# --- keys -------------------------------------------------------------------------------------


def test_page_keys_hash_domain_key_and_page_number() -> None:
    key = ALICE.public_key
    expected = hashlib.sha256(DOMAIN_ISSUER_PAGE_KEY + key + (5).to_bytes(8, "big")).digest()
    assert issuer_page_key(key, 5) == expected
    assert IssuerPage(key, 5).key == expected
    expected = hashlib.sha256(DOMAIN_EARNER_PAGE_KEY + key + (5).to_bytes(8, "big")).digest()
    assert earner_page_key(key, 5) == expected
    assert EarnerPage(key, 5).key == expected
    keys = {issuer_page_key(key, 0), issuer_page_key(key, 1), earner_page_key(key, 0)}
    assert len(keys | {issuer_page_key(BOB.public_key, 0)}) == 4


def test_domain_tags_are_all_distinct() -> None:
    tags = {DOMAIN_ISSUER_PAGE_KEY, DOMAIN_EARNER_PAGE_KEY, DOMAIN_ISSUER_ITEM, DOMAIN_EARNER_ITEM}
    tags |= {DOMAIN_ENTRY, DOMAIN_LOCATION, DOMAIN_REVOCATION, DOMAIN_DHT_KEY, DOMAIN_STAMP}
    assert len(tags) == 9


@pytest.mark.parametrize("page", [-1, 2**64, True, 1.0])
def test_page_number_must_be_an_unsigned_64_bit_integer(page: Any) -> None:
    key = ALICE.public_key
    for action in (
        lambda: issuer_page_key(key, page),
        lambda: earner_page_key(key, page),
        lambda: make_issuer_item(ALICE, page, _uid(0)),
        lambda: make_earner_item(BOB, page, _entry(0)),
        lambda: IssuerPage(key, page),
        lambda: EarnerPage(key, page),
    ):
        assert _code(action) == "record_malformed"


# --- encoding ---------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(page=valid_issuer_pages, number=st.sampled_from([0, 1, 300, LAST_PAGE]))
def test_issuer_page_round_trips(page: IssuerPage, number: int) -> None:
    assert IssuerPage.from_wire_bytes(page.to_wire_bytes()) == page
    assert validate_issuer_page(page) is page
    elsewhere = _issuer_page([_item(n, page=number) for n in range(2)], number)
    assert validate_issuer_page(IssuerPage.from_wire_bytes(elsewhere.to_wire_bytes())) == elsewhere


@settings(max_examples=40, deadline=None)
@given(page=valid_earner_pages, number=st.sampled_from([0, 1, 300, LAST_PAGE]))
def test_earner_page_round_trips(page: EarnerPage, number: int) -> None:
    assert EarnerPage.from_wire_bytes(page.to_wire_bytes()) == page
    assert validate_earner_page(page) is page
    elsewhere = _earner_page([_earner_item(n, page=number) for n in range(2)], number)
    assert validate_earner_page(EarnerPage.from_wire_bytes(elsewhere.to_wire_bytes())) == elsewhere


def test_earner_item_on_the_wire_is_its_entry_without_the_earner_key_and_the_signature() -> None:
    # If Entry's field order changes, the page must still drop exactly the earner key.
    page = _earner_page([_earner_item(n) for n in range(EARNER_PAGE_ITEMS)])
    wire = page.to_wire_bytes()
    assert wire.count(BOB.public_key) == 1  # once, for the whole page
    on_wire = msgpack.unpackb(wire, raw=False)[4]
    for item, fields in zip(page.items, on_wire, strict=True):
        entry_fields = item.entry.to_fields()
        entry_fields.remove(BOB.public_key)
        assert fields == [entry_fields, item.signature]
    decoded = EarnerPage.from_wire_bytes(wire)
    assert decoded.items == page.items
    assert decoded.entries == tuple(item.entry for item in page.items)
    assert [entry.uid for entry in decoded.entries] == sorted(
        entry.uid for entry in decoded.entries
    )


def test_worst_case_pages_fit_one_datagram_and_one_more_item_would_not() -> None:
    items = tuple(IssuerItem(Uid(bytes([n]) * 64), b"\xff" * 64) for n in range(ISSUER_PAGE_ITEMS))
    issuer_page = IssuerPage(ALICE.public_key, LAST_PAGE, items)
    largest = [
        EarnerItem(
            replace(_entry(n), created=2**64 - 1, stamp=2**64 - 1), b"\xff" * 64, 2**64 - 1, True
        )
        for n in range(EARNER_PAGE_ITEMS)
    ]
    earner_page = _earner_page(largest, LAST_PAGE)
    assert len(earner_page.items) == EARNER_PAGE_ITEMS  # withdrawn: no entries, all the bytes
    for page in (issuer_page, earner_page):
        assert page_is_full(page)
        wire = page.to_wire_bytes()
        assert len(wire) <= MAX_VALUE_BYTES
        one_more = pack(page.item_fields(page.members[0]))  # type: ignore[arg-type]
        assert len(wire) + len(one_more) > MAX_VALUE_BYTES


@settings(max_examples=200, deadline=None)
@given(garbage=st.binary(max_size=MAX_VALUE_BYTES + 10))
def test_garbage_raises_decode_error_only(garbage: bytes) -> None:
    for kind in (IssuerPage, EarnerPage):
        with pytest.raises(DecodeError):
            kind.from_wire_bytes(garbage)


@pytest.mark.parametrize(
    "page",
    [
        _issuer_page([_item(n) for n in range(ISSUER_PAGE_ITEMS)]),
        _earner_page([_earner_item(n) for n in range(EARNER_PAGE_ITEMS)]),
    ],
    ids=["issuer", "earner"],
)
def test_every_truncation_raises_decode_error(page: IssuerPage | EarnerPage) -> None:
    wire = page.to_wire_bytes()
    for end in range(len(wire)):
        with pytest.raises(DecodeError):
            type(page).from_wire_bytes(wire[:end])


def _flip(wire: bytes, data: st.DataObject) -> bytes:
    flipped = bytearray(wire)
    index = data.draw(st.integers(0, len(wire) - 1))
    flipped[index] ^= data.draw(st.integers(1, 255))
    return bytes(flipped)


@settings(max_examples=150, deadline=None)
@given(page=valid_issuer_pages.filter(lambda p: bool(p.items)), data=st.data())
def test_a_flipped_byte_in_an_issuer_page_is_rejected(page: IssuerPage, data: Any) -> None:
    flipped = _flip(page.to_wire_bytes(), data)
    with pytest.raises((DecodeError, RecordError)):
        validate_issuer_page(IssuerPage.from_wire_bytes(flipped))


@settings(max_examples=150, deadline=None)
@given(page=valid_earner_pages.filter(lambda p: bool(p.items)), data=st.data())
def test_a_flipped_byte_in_an_earner_page_is_rejected(page: EarnerPage, data: Any) -> None:
    # Even in the page number: each item is signed for its page.
    flipped = _flip(page.to_wire_bytes(), data)
    with pytest.raises((DecodeError, RecordError)):
        validate_earner_page(EarnerPage.from_wire_bytes(flipped))


def _record() -> Record:
    entry = _entry(0)
    return Record(entry, make_location(BOB, entry.uid, ("https://bob.example/b/1",), 1))


@pytest.mark.parametrize(
    ("source", "wire"),
    [
        ("record", _record().to_wire_bytes()),
        ("entry", _entry(0).to_wire_bytes()),
        ("issuer", _issuer_page([_item(1)]).to_wire_bytes()),
        ("issuer", IssuerPage(ALICE.public_key, 0).to_wire_bytes()),
        ("earner", _earner_page([_earner_item(1)]).to_wire_bytes()),
        ("earner", EarnerPage(ALICE.public_key, 0).to_wire_bytes()),
    ],
)
def test_kinds_never_decode_as_each_other(source: str, wire: bytes) -> None:
    decoders: dict[str, Callable[[bytes], object]] = {
        "record": Record.from_wire_bytes,
        "entry": Entry.from_wire_bytes,
        "location": Location.from_wire_bytes,
        "revocation": Revocation.from_wire_bytes,
        "issuer": IssuerPage.from_wire_bytes,
        "earner": EarnerPage.from_wire_bytes,
    }
    decoders.pop(source)(wire)  # its own kind reads it
    for decode in decoders.values():
        with pytest.raises(DecodeError):
            decode(wire)


def _issuer_fields(items: list[Any], **changes: Any) -> bytes:
    fields = {"kind": "bns/issuer-page", "version": 1, "key": ALICE.public_key, "page": 0}
    fields |= changes
    return bytes(msgpack.packb([*fields.values(), items], use_bin_type=True))


_ITEMS = sorted([_item(0), _item(1)], key=_uid_of)
_A, _B = ([item.uid, item.signature] for item in _ITEMS)


def test_the_hand_built_page_the_malformed_ones_spoil_is_valid() -> None:
    page = validate_issuer_page(IssuerPage.from_wire_bytes(_issuer_fields([_A, _B])))
    assert page == _issuer_page(_ITEMS)


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        pytest.param(_issuer_fields([_B, _A]), "decode_error", id="unsorted"),
        pytest.param(_issuer_fields([_A, _A]), "decode_error", id="uid-twice"),
        pytest.param(_issuer_fields([[*_A, b""]]), "decode_error", id="item-of-three"),
        pytest.param(_issuer_fields([[_A[0], 5]]), "decode_error", id="signature-not-bytes"),
        pytest.param(_issuer_fields({"a": 1}), "decode_error", id="items-a-map"),  # type: ignore[arg-type]
        pytest.param(_issuer_fields([_A], version=2), "version_unknown", id="version-2"),
        pytest.param(_issuer_fields([_A], version=True), "version_unknown", id="version-bool"),
        pytest.param(
            _issuer_fields([_A], kind="bns/earner-page"), "kind_mismatch", id="earner-kind"
        ),
        pytest.param(
            _issuer_fields([_A], kind=b"bns/issuer-page"), "kind_mismatch", id="kind-as-bytes"
        ),
        pytest.param(
            _issuer_fields([_A], key=ALICE.public_key[:31]), "decode_error", id="short-key"
        ),
        pytest.param(_issuer_fields([_A], page=-1), "decode_error", id="negative-page"),
        pytest.param(_issuer_fields([_A]) + b"\x00", "decode_error", id="trailing-bytes"),
        pytest.param(
            b"\xdc\x00\x05" + _issuer_fields([_A])[1:], "not_canonical", id="array16-for-5"
        ),
        pytest.param(b"\x00" * (MAX_VALUE_BYTES + 1), "value_too_large", id="oversize"),
    ],
)
def test_malformed_issuer_pages(wire: bytes, code: str) -> None:
    with pytest.raises(DecodeError) as caught:
        IssuerPage.from_wire_bytes(wire)
    assert caught.value.code == code


def test_malformed_earner_pages() -> None:
    good = _earner_page([_earner_item(0)]).to_wire_bytes()
    fields = msgpack.unpackb(good, raw=False)
    head, [(entry, signature)] = fields[:4], fields[4]
    spoiled = [
        [*head, [[entry, signature], [entry, signature]]],  # one UID twice
        [*head, [[entry]]],  # an item without its signature
        [*head, [[entry, signature, b""]]],  # an item with one field too many
        [*head, [[entry, signature[:63]]]],
        [*head, [[entry, 5]]],  # a signature that is no bytes
        [*head, [[entry[:-1], signature]]],  # an entry missing a field
        [*head, [[[*entry, b""], signature]]],  # an entry with one too many
        [*head, [[b"entry", signature]]],
        [*head, [entry]],  # a bare entry, as pages held before items were signed per page
        [*head, ["item"]],
        [*fields[:2], None, *fields[3:]],  # no earner key
        [*fields[:2], b"\x00" * 31, *fields[3:]],
    ]
    rebuilt = msgpack.packb([*head, [[entry, signature]]], use_bin_type=True)
    assert validate_earner_page(EarnerPage.from_wire_bytes(rebuilt)) == _earner_page(
        [_earner_item(0)]
    )
    for value in spoiled:
        with pytest.raises(DecodeError):
            EarnerPage.from_wire_bytes(msgpack.packb(value, use_bin_type=True))
    assert fields[0] == "bns/earner-page"
    with pytest.raises(DecodeError) as caught:
        EarnerPage.from_wire_bytes(msgpack.packb(["bns/issuer-page", *fields[1:]]))
    assert caught.value.code == "kind_mismatch"


@pytest.mark.parametrize(
    "build",
    [
        lambda: IssuerPage(ALICE.public_key, 0, (_ITEMS[1], _ITEMS[0])),  # unsorted
        lambda: IssuerPage(ALICE.public_key, 0, (_item(0), _item(0))),
        lambda: IssuerPage(ALICE.public_key, 0, [_item(0)]),  # type: ignore[arg-type]
        lambda: IssuerPage(ALICE.public_key, 0, (_entry(0),)),  # type: ignore[arg-type]
        lambda: _issuer_page([_item(n) for n in range(ISSUER_PAGE_ITEMS + 1)]),
        lambda: _earner_page([_earner_item(n) for n in range(EARNER_PAGE_ITEMS + 1)]),
        lambda: EarnerPage(BOB.public_key, 0, (_entry(0),)),  # type: ignore[arg-type]
        lambda: EarnerPage(BOB.public_key, 0, (_earner_item(0), _earner_item(0))),
        lambda: EarnerItem(_entry(0), bytes(65)),
        lambda: EarnerItem(_uid(0), bytes(64)),  # type: ignore[arg-type]
        lambda: IssuerPage(ALICE.public_key[:31], 0),  # type: ignore[arg-type]
        lambda: IssuerItem(_uid(0)[:63], bytes(64)),  # type: ignore[arg-type]
        lambda: IssuerItem(_uid(0), bytes(65)),
    ],
)
def test_shape_is_checked_when_a_page_is_built(build: Callable[[], object]) -> None:
    assert _code(build) == "record_malformed"


# --- forgeries --------------------------------------------------------------------------------


def test_item_signed_by_a_stranger_is_forged() -> None:
    forged = _issuer_page([_item(0), _item(1, issuer=MALLORY)])
    assert _code(lambda: validate_issuer_page(forged)) == "index_item_forged"
    held = _issuer_page([_item(0)])
    assert _code(lambda: accept_issuer_page(held, forged)) == "index_item_forged"


def test_issuer_item_replayed_into_another_page_is_forged() -> None:
    item = _item(3, page=0)
    assert validate_issuer_page(_issuer_page([item], page=0))
    assert _code(lambda: validate_issuer_page(_issuer_page([item], page=1))) == (
        "index_item_forged"
    )
    # Nor into the same page number of another issuer's index.
    strangers = IssuerPage(MALLORY.public_key, 0, (item,))
    assert _code(lambda: validate_issuer_page(strangers)) == "index_item_forged"


def test_issuer_item_signature_covers_domain_key_page_and_uid() -> None:
    signed = issuer_item_signed_bytes(ALICE.public_key, 7, _uid(0))
    assert signed == DOMAIN_ISSUER_ITEM + ALICE.public_key + (7).to_bytes(8, "big") + _uid(0)
    assert _item(0, page=7).signature == ALICE.sign(signed)


def test_earner_page_refuses_an_entry_naming_another_earner() -> None:
    mallorys = make_earner_item(MALLORY, 0, _entry(0, earner=MALLORY))
    assert _code(lambda: EarnerPage(BOB.public_key, 0, (mallorys,))) == "index_wrong_earner"
    assert _code(lambda: add_to_page(EarnerPage(BOB.public_key, 0), mallorys)) == (
        "index_wrong_earner"
    )
    # On the wire the earner key is the page's, so a spliced entry no longer verifies.
    wire = EarnerPage(MALLORY.public_key, 0, (mallorys,)).to_wire_bytes()
    spliced = EarnerPage.from_wire_bytes(wire.replace(MALLORY.public_key, BOB.public_key))
    assert spliced.entries[0].earner_key == BOB.public_key
    assert _code(lambda: validate_earner_page(spliced)) == "index_item_forged"


def test_earner_item_signature_covers_domain_earner_page_and_uid() -> None:
    uid = _entry(0).uid
    signed = earner_item_signed_bytes(BOB.public_key, 7, uid)
    assert signed == DOMAIN_EARNER_ITEM + BOB.public_key + (7).to_bytes(8, "big") + uid
    item = _earner_item(0, page=7)
    assert item.signature == BOB.sign(signed) and item.uid == uid and item.entry == _entry(0)
    later = earner_item_signed_bytes(BOB.public_key, 7, uid, 5, True)
    assert later == signed + (5).to_bytes(8, "big") + b"\x01"


def test_earner_item_replayed_into_another_page_is_forged() -> None:
    item = _earner_item(3, page=0)
    assert validate_earner_page(_earner_page([item], page=0))
    assert _code(lambda: validate_earner_page(_earner_page([item], page=1))) == (
        "index_item_forged"
    )
    # Nor does a signature for another earner's index verify in Bob's, though the entry does.
    for_mallory = earner_item_signed_bytes(MALLORY.public_key, 0, item.uid)
    moved = _earner_page([EarnerItem(item.entry, BOB.sign(for_mallory))])
    assert _code(lambda: validate_earner_page(moved)) == "index_item_forged"


def test_bobs_first_page_copied_into_his_second_is_refused() -> None:
    # The attack: real entries with small UIDs copied into page 1 would evict its own items
    # on merge, since past capacity the smallest UIDs stay.
    first = _earner_page([_earner_item(n) for n in range(EARNER_PAGE_ITEMS)])
    second = _earner_page([_earner_item(n, page=1) for n in range(10, 10 + EARNER_PAGE_ITEMS)], 1)
    fields = msgpack.unpackb(first.to_wire_bytes(), raw=False)
    fields[3] = 1
    copied = EarnerPage.from_wire_bytes(msgpack.packb(fields, use_bin_type=True))
    assert copied.key == second.key and copied.entries == first.entries
    assert _code(lambda: validate_earner_page(copied)) == "index_item_forged"
    assert _code(lambda: accept_earner_page(second, copied)) == "index_item_forged"
    assert accept_earner_page(None, second) == second


def test_earner_item_signed_by_anyone_but_the_entrys_earner_is_forged() -> None:
    entry = _entry(0)
    assert _code(lambda: make_earner_item(MALLORY, 0, entry)) == "index_wrong_writer"
    assert _code(lambda: make_earner_item(ALICE, 0, entry)) == "index_wrong_writer"
    signed = earner_item_signed_bytes(BOB.public_key, 0, entry.uid)
    for signer in (MALLORY, ALICE):  # a stranger, and the badge's issuer herself
        page = _earner_page([EarnerItem(entry, signer.sign(signed))])
        assert _code(functools.partial(validate_earner_page, page)) == "index_item_forged"
        assert _code(functools.partial(accept_earner_page, None, page)) == "index_item_forged"


def test_an_entry_without_an_earner_key_has_no_earner_item() -> None:
    signing_input = hashlib.sha512(b"email-only").digest()
    uid = Uid(ALICE.sign(signing_input))
    email_only = make_entry(ALICE, uid, signing_input, None, CREATED)
    assert _code(lambda: make_earner_item(ALICE, 0, email_only)) == "index_wrong_earner"


def test_forged_entries_are_refused_from_earner_pages() -> None:
    # The page signature is the claimed issuer's own, so only the entry check catches these.
    genuine = _entry(0)
    claimed = make_entry(MALLORY, genuine.uid, genuine.signing_input, BOB.public_key, CREATED)
    tampered = replace(genuine, created=CREATED + 9)
    for item in (make_earner_item(BOB, 0, claimed), make_earner_item(BOB, 0, tampered)):
        page = _earner_page([item])
        assert _code(functools.partial(validate_earner_page, page)) == "index_item_forged"
        assert _code(functools.partial(accept_earner_page, None, page)) == "index_item_forged"


def test_earner_page_entries_must_meet_the_networks_stamp() -> None:
    unstamped = _earner_item(0)
    difficulty = stamp_bits(unstamped.uid, unstamped.entry.stamp) + 1
    page = _earner_page([unstamped])
    validate_earner_page(page, 0)
    assert _code(lambda: validate_earner_page(page, difficulty)) == "stamp_insufficient"
    assert _code(lambda: accept_earner_page(None, page, difficulty)) == "stamp_insufficient"
    stamped = _earner_page([_earner_item(0, difficulty=difficulty)])
    assert accept_earner_page(None, stamped, difficulty) == stamped


# --- merge ------------------------------------------------------------------------------------


def _assert_semilattice(
    merge: Callable[[_Page, _Page], _Page], a: _Page, b: _Page, c: _Page
) -> None:
    assert merge(a, b).to_wire_bytes() == merge(b, a).to_wire_bytes()
    assert merge(merge(a, b), c) == merge(a, merge(b, c))
    assert merge(a, a) == a


@settings(max_examples=60, deadline=None)
@given(a=issuer_pages, b=issuer_pages, c=issuer_pages)
def test_issuer_merge_is_commutative_associative_idempotent(
    a: IssuerPage, b: IssuerPage, c: IssuerPage
) -> None:
    _assert_semilattice(merge_issuer_pages, a, b, c)


@settings(max_examples=60, deadline=None)
@given(a=earner_pages, b=earner_pages, c=earner_pages)
def test_earner_merge_is_commutative_associative_idempotent(
    a: EarnerPage, b: EarnerPage, c: EarnerPage
) -> None:
    _assert_semilattice(merge_earner_pages, a, b, c)


def _assert_order_free(
    merge: Callable[[_Page, _Page], _Page], pages: list[_Page], rng: Any
) -> None:
    expected = functools.reduce(merge, pages)
    shuffled = list(pages)
    rng.shuffle(shuffled)
    assert functools.reduce(merge, shuffled).to_wire_bytes() == expected.to_wire_bytes()
    assert functools.reduce(merge, pages + shuffled).to_wire_bytes() == expected.to_wire_bytes()
    # What stays: the smallest UIDs seen, each with its smallest item.
    best: dict[bytes, bytes] = {}
    for page in pages:
        for item in page.members:
            encoded = pack(page.item_fields(item))
            best[item.uid] = min(best.get(item.uid, encoded), encoded)
    kept = sorted(best)[: expected.CAPACITY]
    assert [pack(expected.item_fields(item)) for item in expected.members] == [
        best[uid] for uid in kept
    ]


@settings(max_examples=60, deadline=None)
@given(pages=issuer_page_lists, rng=st.randoms(use_true_random=False))
def test_issuer_merge_is_order_free_and_keeps_the_smallest(
    pages: list[IssuerPage], rng: Any
) -> None:
    _assert_order_free(merge_issuer_pages, pages, rng)


@settings(max_examples=60, deadline=None)
@given(pages=earner_page_lists, rng=st.randoms(use_true_random=False))
def test_earner_merge_is_order_free_and_keeps_the_smallest(
    pages: list[EarnerPage], rng: Any
) -> None:
    _assert_order_free(merge_earner_pages, pages, rng)


def test_two_items_for_one_uid_keep_the_smaller_wire_bytes() -> None:
    real, other = _item(0), IssuerItem(_uid(0), b"\x00" * 64)
    merged = merge_issuer_pages(_issuer_page([real]), _issuer_page([other]))
    assert merged.items == (min(real, other, key=lambda item: item.signature),)
    first, second = _earner_item(0, CREATED), _earner_item(0, CREATED + 1)
    merged_earner = merge_earner_pages(_earner_page([second]), _earner_page([first]))
    assert merged_earner.items == (first,)  # equal up to `created`, the smaller number


def test_merge_past_capacity_keeps_the_smallest_uids() -> None:
    items = sorted((_item(n) for n in range(ISSUER_PAGE_ITEMS + 3)), key=_uid_of)
    low = _issuer_page(items[:ISSUER_PAGE_ITEMS])
    high = _issuer_page(items[3:])
    assert merge_issuer_pages(high, low).items == tuple(items[:ISSUER_PAGE_ITEMS])


def test_pages_of_different_keys_do_not_merge() -> None:
    page = _issuer_page([_item(0)])
    for other in (_issuer_page([_item(0, page=1)], page=1), IssuerPage(BOB.public_key, 0)):
        assert _code(functools.partial(merge_issuer_pages, page, other)) == "index_key_mismatch"
    bobs = _earner_page([_earner_item(0)])
    assert _code(lambda: merge_earner_pages(bobs, EarnerPage(BOB.public_key, 1))) == (
        "index_key_mismatch"
    )


# --- storing and writing ----------------------------------------------------------------------


def test_accept_keeps_the_merge() -> None:
    held = accept_issuer_page(None, _issuer_page([_item(0)]))
    assert held == _issuer_page([_item(0)])
    assert accept_issuer_page(held, _issuer_page([_item(1)])) == _issuer_page([_item(0), _item(1)])
    earner_held = accept_earner_page(None, _earner_page([_earner_item(0)]))
    both = accept_earner_page(earner_held, _earner_page([_earner_item(1)]))
    assert both == _earner_page([_earner_item(0), _earner_item(1)])


def test_add_to_page_fills_a_page_then_refuses_new_uids() -> None:
    page = IssuerPage(ALICE.public_key, 0)
    for n in range(ISSUER_PAGE_ITEMS):
        assert not page_is_full(page)
        page = add_to_page(page, _item(n))
    assert page_is_full(page) and len(page.items) == ISSUER_PAGE_ITEMS
    assert add_to_page(page, _item(0)) == page  # a republished item is no new UID
    assert _code(lambda: add_to_page(page, _item(99))) == "index_page_full"
    earner = EarnerPage(BOB.public_key, 0)
    for n in range(EARNER_PAGE_ITEMS):
        earner = add_to_page(earner, _earner_item(n))
    assert page_is_full(earner) and validate_earner_page(earner) is earner
    assert add_to_page(earner, _earner_item(0)) == earner
    assert _code(lambda: add_to_page(earner, _earner_item(99))) == "index_page_full"


def test_add_many_to_page_is_adding_each_in_turn_in_one_write() -> None:
    page = add_to_page(IssuerPage(ALICE.public_key, 0), _item(0))
    assert page_room(page) == ISSUER_PAGE_ITEMS - 1
    many = [_item(n) for n in reversed(range(1, ISSUER_PAGE_ITEMS))]
    filled = add_many_to_page(page, [*many, many[0]])  # any order, a UID twice
    one_by_one = page
    for item in many:
        one_by_one = add_to_page(one_by_one, item)
    assert filled == one_by_one and page_room(filled) == 0
    assert validate_issuer_page(IssuerPage.from_wire_bytes(filled.to_wire_bytes())) == filled
    assert add_many_to_page(filled, [_item(0), _item(3)]) == filled  # held already: no new UID
    assert _code(lambda: add_many_to_page(page, [_item(n) for n in range(1, 10)])) == (
        "index_page_full"
    )
    earner = add_many_to_page(EarnerPage(BOB.public_key, 0), [_earner_item(n) for n in range(3)])
    assert page_room(earner) == 0 and validate_earner_page(earner) is earner
    assert _code(lambda: add_many_to_page(earner, [_earner_item(7)])) == "index_page_full"


def test_an_issuer_with_ten_thousand_badges() -> None:
    rng = random.Random(10_000)
    uids = [Uid(rng.randbytes(64)) for _ in range(10_000)]
    pages: dict[int, IssuerPage] = {}
    for index, uid in enumerate(uids):
        number = index // ISSUER_PAGE_ITEMS
        page = pages.get(number, IssuerPage(ALICE.public_key, number))
        pages[number] = add_to_page(page, make_issuer_item(ALICE, number, uid))
    assert len(pages) == -(-10_000 // ISSUER_PAGE_ITEMS)
    seen: list[bytes] = []
    for page in pages.values():
        wire = page.to_wire_bytes()
        assert len(wire) <= MAX_VALUE_BYTES
        decoded = validate_issuer_page(IssuerPage.from_wire_bytes(wire))
        assert decoded == page
        seen.extend(item.uid for item in decoded.items)
    assert sorted(seen) == sorted(uids)
    assert len({page.key for page in pages.values()}) == len(pages)
