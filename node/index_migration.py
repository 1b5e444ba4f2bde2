"""A home from before the earner-owned index (issue 14 item 4; bns/earner_migration.py).

On the first start of such a home (the journal has no `MIGRATED` mark) the node rewrites the
earner pages it holds to their earner-signed items, forgets the bookkeeping it kept as an
issuer of others' indexes, and queues `earner-reindex start` (node/work.py), all at once.
That item reads the earner's index as the network holds it now and queues one item per
accepted badge it lacks, which signs the badge's item as its earner would on accept. Until
those run, the badges an issuer indexed are not listed: no reader is shown an item its
earner did not sign. Hidden, rejected and inbox badges are not indexed, as before.

  earner-reindex  start   walk the earner's index, queue the accepted badges it lacks
  earner-reindex  <UID>   sign the earner's item for an accepted badge
"""

from __future__ import annotations

import logging
from typing import Final

from badgechain.bns.earner_migration import drop_issuer_bookkeeping, scrub_held_earner_pages
from badgechain.chain.uid import Uid
from badgechain.storage import Kind

from . import earner
from .badgestore import load_record, records
from .services import Services
from .states import BadgeState

__all__ = ["MIGRATED", "REINDEX_TOPIC", "START_KEY", "migrate_earner_index", "reindex"]

log = logging.getLogger(__name__)

REINDEX_TOPIC: Final = "earner-reindex"
START_KEY: Final = b"start"
MIGRATED: Final = b"migration/earner-owned-index"


def migrate_earner_index(node: Services) -> int:
    """Once per home: scrub what it holds and queue the re-signing; returns items queued."""
    store = node.store
    if store.get(Kind.JOURNAL, MIGRATED) is not None:
        return 0
    removed = scrub_held_earner_pages(store, node.config.pow_difficulty)
    dropped = drop_issuer_bookkeeping(store, node.key.public_key)
    queued = 1 if _accepted(node) else 0  # a new home has nothing to sign again
    with store.batch() as batch:
        if queued:
            node.queue.put(REINDEX_TOPIC, START_KEY, node.clock().timestamp(), batch)
        batch.put(Kind.JOURNAL, MIGRATED, b"1")
    log.info("earner index migrated", extra={"items_removed": removed, "journal": dropped})
    return queued


def _accepted(node: Services) -> list[Uid]:
    return [
        uid
        for uid, state in records(node.store)
        if state.role == "received" and state.state == BadgeState.ACCEPTED
    ]


async def reindex(node: Services, key: bytes) -> bool:
    """The `earner-reindex` topic's handler (see the module's table)."""
    if key == START_KEY:
        listed = await node.names.list_by_earner(node.key.public_key)
        present = {entry.uid for entry in listed}
        for uid in _accepted(node):
            if uid not in present:
                node.enqueue(REINDEX_TOPIC, uid)
        return True
    uid = Uid(key)
    state = load_record(node.store, uid)
    if state is None or state.role != "received" or state.state != BadgeState.ACCEPTED:
        return True  # hidden or gone since: not indexed
    record = await node.names.resolve(uid)
    await earner._index(node, record)  # as accept signs it: the next version, its page
    return True
