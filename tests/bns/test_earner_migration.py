"""An older home's earner index (bns/earner_migration.py): items its issuers signed, held by a
storing node and by the issuer that wrote them, are dropped once; the earner's own stay."""

from __future__ import annotations

import os

import pytest

from badgechain.bns.earner_migration import (
    drop_issuer_bookkeeping,
    earner_signed_items,
    scrub_held_earner_pages,
)
from badgechain.bns.errors import RecordError
from badgechain.bns.index import EarnerItem, EarnerPage, earner_item_signed_bytes
from badgechain.bns.record import Entry, Record, Uid, make_entry
from badgechain.bns.service import _EARNER_INDEX, _ISSUER_INDEX, _NEXT_PAGE, _PLACED
from badgechain.bns.values import BnsValues, address_of_key, key_of
from badgechain.chain.keys import KeyPair
from badgechain.storage import Kind
from badgechain.storage.memory import MemoryStore


def _entry(issuer: KeyPair, earner: KeyPair) -> Entry:
    message = os.urandom(64)
    return make_entry(issuer, Uid(issuer.sign(message)), message, earner.public_key, 1)


def _old_item(issuer: KeyPair, page: int, entry: Entry) -> EarnerItem:
    """An item as issuers wrote them before the earner owned its index."""
    assert entry.earner_key is not None
    return EarnerItem(
        entry, issuer.sign(earner_item_signed_bytes(entry.earner_key, page, entry.uid))
    )


def _page(earner: KeyPair, number: int, *items: EarnerItem) -> EarnerPage:
    return EarnerPage(earner.public_key, number, tuple(sorted(items, key=lambda i: bytes(i.uid))))


def test_an_old_page_is_refused_and_scrubbed_to_the_earners_items() -> None:
    issuer, earner = KeyPair.generate(), KeyPair.generate()
    by_issuer = _entry(issuer, earner)
    self_issued = _entry(earner, earner)  # its old item is the earner's own signature
    mixed = _page(earner, 0, _old_item(issuer, 0, by_issuer), _old_item(earner, 0, self_issued))
    only_old = _page(earner, 1, _old_item(issuer, 1, _entry(issuer, earner)))
    record = Record(by_issuer)
    policy = BnsValues()
    with pytest.raises(RecordError) as refused:  # today no node takes such a page
        policy.accept(address_of_key(mixed.key), None, mixed.to_wire_bytes())
    assert refused.value.code == "index_item_forged"
    assert [item.uid for item in earner_signed_items(mixed).items] == [self_issued.uid]

    store = MemoryStore()
    for value in (mixed, only_old, record):
        address = address_of_key(key_of(value))
        store.put(Kind.BNS_RECORD, address, value.to_wire_bytes())
    store.put(Kind.PUBLISHED, address_of_key(only_old.key), only_old.to_wire_bytes())

    assert scrub_held_earner_pages(store) == 3  # two held, one this node wrote itself
    held = store.get(Kind.BNS_RECORD, address_of_key(mixed.key))
    assert held is not None
    assert EarnerPage.from_wire_bytes(held).entries == (self_issued,)
    policy.accept(address_of_key(mixed.key), None, held)  # valid today
    assert store.get(Kind.BNS_RECORD, address_of_key(only_old.key)) is None
    assert store.get(Kind.PUBLISHED, address_of_key(only_old.key)) is None
    assert store.get(Kind.BNS_RECORD, address_of_key(key_of(record))) == record.to_wire_bytes()
    assert scrub_held_earner_pages(store) == 0  # once is enough


def test_an_issuers_bookkeeping_of_other_earners_indexes_is_dropped() -> None:
    issuer, earner = KeyPair.generate(), KeyPair.generate()
    theirs, mine = _entry(issuer, earner), _entry(issuer, issuer)
    store = MemoryStore()
    kept = [
        _NEXT_PAGE + _ISSUER_INDEX + issuer.public_key,
        _PLACED + _ISSUER_INDEX + theirs.uid,
        _PLACED + _EARNER_INDEX + mine.uid,  # its own index: reconciled as before
    ]
    dropped = [
        _NEXT_PAGE + _EARNER_INDEX + earner.public_key,
        _NEXT_PAGE + _EARNER_INDEX + issuer.public_key,  # its own: placed from page 0 again
        _PLACED + _EARNER_INDEX + theirs.uid,
    ]
    for key in (*kept, *dropped):
        entry = mine if key.endswith(mine.uid) else theirs
        store.put(Kind.JOURNAL, key, bytes(8) + entry.to_wire_bytes())
    assert drop_issuer_bookkeeping(store, issuer.public_key) == len(dropped)
    assert [store.get(Kind.JOURNAL, key) is not None for key in kept] == [True] * len(kept)
    assert [store.get(Kind.JOURNAL, key) for key in dropped] == [None] * len(dropped)
