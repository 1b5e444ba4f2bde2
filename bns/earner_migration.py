"""From the issuer-written earner index to the earner-owned one (issue 14 item 4).

Before, a badge's issuer signed its item in the earner's index; now only the earner does
(bns/index.py `validate_earner_page`). Items of the old layout are no longer shown: a reader
drops a page answer holding one, and a storing node refuses a STORE of one. What a node
already holds was trusted when stored, so a node started on an older home rewrites the
earner pages it holds once (stored for the DHT, or written by it to republish) to their
earner-signed items (a self-issued badge's old item is the earner's and stays), and drops
the index bookkeeping an issuer kept for others' indexes. The earner's node then signs
items for its accepted badges again (node/index_migration.py).
"""

from __future__ import annotations

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import PublicKey
from badgechain.storage import Kind, Store

from .index import EarnerPage, validate_earner_page
from .record import Entry
from .service import _EARNER_INDEX, _NEXT_PAGE, _PLACED
from .values import decode_value

__all__ = ["drop_issuer_bookkeeping", "earner_signed_items", "scrub_held_earner_pages"]


def earner_signed_items(page: EarnerPage, difficulty: int = 0) -> EarnerPage:
    """`page` with only the items that pass today's checks (the earner signed them)."""
    kept = []
    for item in page.items:
        try:
            validate_earner_page(page.with_members((item,)), difficulty)
        except BadgeChainError:
            continue
        kept.append(item)
    return page.with_members(tuple(kept))


def scrub_held_earner_pages(store: Store, difficulty: int = 0) -> int:
    """Rewrite every earner page this node holds, as a storing node and as the writer that
    republishes it, to its earner-signed items (a page left empty is deleted); return how
    many items went. Both copies count in this node's own reads (bns/dht.py `fetch`)."""
    return sum(_scrub(store, kind, difficulty) for kind in (Kind.BNS_RECORD, Kind.PUBLISHED))


def _scrub(store: Store, kind: Kind, difficulty: int) -> int:
    removed = 0
    for address, value in list(store.scan(kind, b"")):
        try:
            page = decode_value(value)
        except BadgeChainError:
            continue  # not this migration's business
        if not isinstance(page, EarnerPage):
            continue
        kept = earner_signed_items(page, difficulty)
        if len(kept.items) == len(page.items):
            continue
        removed += len(page.items) - len(kept.items)
        if kept.items:
            store.put(kind, address, kept.to_wire_bytes())
        else:
            store.delete(kind, address)
    return removed


def drop_issuer_bookkeeping(store: Store, own_key: PublicKey) -> int:
    """Forget the next-page hints of earner indexes (an old issuer's for others' indexes;
    this node's own, so its items are placed from page 0 again, where readers start) and
    the placements it made in others' earner indexes, which it can no longer reconcile.
    Returns how many journal keys went."""
    dropped = [key for key, _ in store.scan(Kind.JOURNAL, _NEXT_PAGE + _EARNER_INDEX)]
    for key, value in store.scan(Kind.JOURNAL, _PLACED + _EARNER_INDEX):
        try:
            entry = Entry.from_wire_bytes(value[8:])
        except BadgeChainError:
            dropped.append(key)
            continue
        if entry.earner_key != own_key:
            dropped.append(key)
    with store.batch() as batch:
        for key in dropped:
            batch.delete(Kind.JOURNAL, key)
    return len(dropped)
