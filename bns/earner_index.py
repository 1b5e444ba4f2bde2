"""The earner's own writes to its BNS index (issue 14 item 4): an item signed by the earner
when it accepts a badge, and a withdrawal by the same key when it hides or rejects one.
Storing nodes take no other writer's item (bns/index.py `validate_earner_page`).
"""

from __future__ import annotations

from typing import Final

from badgechain.chain.keys import KeyPair, PublicKey, verify_signature
from badgechain.storage import Kind

from .errors import RecordError
from .index import EarnerItem, EarnerPage, add_to_page, earner_item_signed_bytes, make_earner_item
from .record import Entry, Uid, verify_entry
from .service import _EARNER_INDEX, _PLACED, NameService
from .writes import require_accepted

__all__ = ["MAX_WALKED_PAGES", "entries_signed_by", "index_as_earner", "withdraw_as_earner"]

# How far a withdrawal looks for the item: an index of 3 items a page, 30,000 badges.
MAX_WALKED_PAGES: Final = 10_000


async def index_as_earner(names: NameService, earner: KeyPair, entry: Entry, seq: int) -> int:
    """Put `entry` (a badge `earner` accepted) in its index, version `seq` (the earner's
    clock: later than any withdrawal it made, which it so overrides). Returns the page."""
    return await names._index_for_earner(earner, entry, 0, seq)


async def withdraw_as_earner(names: NameService, earner: KeyPair, uid: Uid, seq: int) -> int:
    """Write a withdrawal, version `seq`, on every page of the earner's index holding `uid`;
    returns how many pages held it (0: it was never indexed)."""
    withdrawn = 0
    for number in range(MAX_WALKED_PAGES):
        page: EarnerPage = await names.earner_page(earner.public_key, number)
        if not page.members:
            break
        held = next((item for item in page.items if item.uid == uid), None)
        if held is None or held.version >= (seq, True):
            continue
        item = make_earner_item(earner, number, held.entry, seq=seq, withdrawn=True)
        updated = add_to_page(page, item)
        require_accepted(await names.dht.publish(updated.to_wire_bytes()), "index page")
        withdrawn += 1
    # Reconciling must not put back what the earner took out.
    names.store.delete(Kind.JOURNAL, _PLACED + _EARNER_INDEX + uid)
    return withdrawn


def entries_signed_by(page: EarnerPage, earner_key: PublicKey) -> tuple[Entry, ...]:
    """What a reader shows of `page` for `earner_key`: the entries of the items that key
    signed for this very page and has not withdrawn, each entry its issuer's. Replicas
    checked the page when they stored it; a reader checks again, because the copy it keeps
    itself counts without a check (bns/replica.py) and a page's owner is read off the wire."""
    if page.earner_key != earner_key:
        return ()
    return tuple(item.entry for item in page.items if _signed(page, item) and not item.withdrawn)


def _signed(page: EarnerPage, item: EarnerItem) -> bool:
    signed = earner_item_signed_bytes(page.earner_key, page.page, item.uid, *item.version)
    if not verify_signature(page.earner_key, signed, item.signature):
        return False
    try:
        verify_entry(item.entry)
    except RecordError:
        return False
    return True
