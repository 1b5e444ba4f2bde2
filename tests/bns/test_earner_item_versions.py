"""Versions of earner-index items (issue 14 item 4): the earner's later item wins a merge, a
withdrawal wins a tie and hides the entry, and every version is the earner's own signature."""

from __future__ import annotations

import functools

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type information
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.bns.errors import RecordError
from badgechain.bns.index import (
    EarnerItem,
    EarnerPage,
    add_to_page,
    make_earner_item,
    merge_earner_pages,
    validate_earner_page,
)
from badgechain.bns.index_items import earner_item_signed_bytes
from badgechain.chain.errors import DecodeError
from tests.bns.test_index import ALICE, BOB, _entry


@functools.cache
def _item(n: int, seq: int, withdrawn: bool, page: int = 0) -> EarnerItem:
    """Alice's entry `n`, version (`seq`, `withdrawn`), signed by Bob, its earner."""
    return make_earner_item(BOB, page, _entry(n), seq=seq, withdrawn=withdrawn)


def _page(*items: EarnerItem, number: int = 0) -> EarnerPage:
    return EarnerPage(BOB.public_key, number, tuple(sorted(items, key=lambda item: item.uid)))


def test_a_withdrawal_hides_the_entry_and_a_later_item_brings_it_back() -> None:
    shown = _page(_item(0, 0, False))
    hidden = add_to_page(shown, _item(0, 5, True))
    assert hidden.entries == () and hidden.items == (_item(0, 5, True),)
    assert add_to_page(hidden, _item(0, 4, False)) == hidden  # an older one changes nothing
    assert add_to_page(hidden, _item(0, 5, False)) == hidden  # a withdrawal wins a tie
    back = add_to_page(hidden, _item(0, 6, False))
    assert back.entries == (_entry(0),)
    assert validate_earner_page(back) is back and validate_earner_page(hidden) is hidden


def test_versions_travel_on_the_wire_and_a_first_version_is_written_without_one() -> None:
    page = _page(_item(0, 0, False), _item(1, 7, True))
    decoded = EarnerPage.from_wire_bytes(page.to_wire_bytes())
    assert decoded == page and decoded.entries == (_entry(0),)
    lengths = {item.seq: len(page.item_fields(item)) for item in page.items}
    assert lengths == {0: 2, 7: 4}
    fields = msgpack.unpackb(page.to_wire_bytes(), raw=False)
    for bad in ([0, False], [7], [7, True, 1], [-1, True], [1, "yes"]):
        changed = [*fields[:4], [[*item[:2], *bad] for item in fields[4]]]
        with pytest.raises(DecodeError):
            EarnerPage.from_wire_bytes(msgpack.packb(changed, use_bin_type=True))


def test_a_version_signed_by_anyone_but_the_earner_is_forged() -> None:
    entry = _entry(0)
    signed = earner_item_signed_bytes(BOB.public_key, 0, entry.uid, 9, True)
    for signer in (ALICE, BOB):
        page = _page(EarnerItem(entry, signer.sign(signed), 9, True))
        if signer is BOB:
            assert validate_earner_page(page) is page
            continue
        with pytest.raises(RecordError) as refused:
            validate_earner_page(page)
        assert refused.value.code == "index_item_forged"
    # Nor does the signature of one version pass for another (a replayed older item).
    replayed = _page(EarnerItem(entry, _item(0, 9, True).signature, 10, False))
    with pytest.raises(RecordError):
        validate_earner_page(replayed)


versioned = st.builds(
    lambda n, seq, withdrawn: _item(n, seq, withdrawn),
    st.integers(0, 4),
    st.integers(0, 3),
    st.booleans(),
)
pages = st.lists(versioned, max_size=3, unique_by=lambda item: item.uid).map(lambda i: _page(*i))


@settings(max_examples=60, deadline=None)
@given(a=pages, b=pages, c=pages)
def test_merge_with_versions_is_a_semilattice(a: EarnerPage, b: EarnerPage, c: EarnerPage) -> None:
    assert merge_earner_pages(a, b).to_wire_bytes() == merge_earner_pages(b, a).to_wire_bytes()
    assert merge_earner_pages(merge_earner_pages(a, b), c) == merge_earner_pages(
        a, merge_earner_pages(b, c)
    )
    assert merge_earner_pages(a, a) == a
    merged = merge_earner_pages(a, b)
    for item in merged.items:  # each UID keeps its latest version seen
        seen = [i.version for p in (a, b) for i in p.items if i.uid == item.uid]
        assert item.version == max(seen)
