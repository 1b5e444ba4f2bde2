"""Revoking a badge this node issued: the status list and the BNS come to say the same.

A revocation sets the list bit, stores the re-signed list, the badge's "revoked" state and
a "revoking" mark in one atomic write, then publishes the BNS revocation and clears the
mark; a mark left by a crash is published on the next start (node/batches.py).

Journal: issuer/revoking/<64-byte UID> → {"reason", "at"} (a RevocationMark, node/records.py).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final

from badgechain.bns.record import MAX_NEW_REASON_BYTES, Record
from badgechain.chain.badge import (
    issuer_id,
)
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.proof import format_created
from badgechain.chain.resolve import Unreachable
from badgechain.chain.uid import Uid, uid_text
from badgechain.storage import Kind

from . import pipeline, status
from .badgestore import load_badge, load_record, put_record
from .didweb import issuer_did
from .errors import IssuerError
from .records import RevocationMark
from .services import Services
from .states import BadgeState, advance

log = logging.getLogger(__name__)

REVOKING_PREFIX: Final = b"issuer/revoking/"


async def revoke_badge(node: Services, uid: Uid, reason: str) -> Record | None:
    """Revoke a badge this node's key issued: set its status list bit and publish the BNS
    revocation (see the module docstring for why both cannot drift apart). None: recorded,
    but the DHT did not answer; the node publishes it later.

    A badge this node holds as its issuer is recorded first (once, however often it is
    revoked); any other UID is the BNS's to judge (`not_issuer`, `bns_not_found`), and only
    a revocation it accepted is logged.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise IssuerError("give a reason for the revocation", code="reason_invalid")
    if len(reason.encode()) > MAX_NEW_REASON_BYTES:
        raise IssuerError(f"the reason is over {MAX_NEW_REASON_BYTES} bytes", code="reason_invalid")
    store = node.store
    credential = load_badge(store, uid)
    if credential is None or issuer_id(credential) not in (node.did, issuer_did(node)):
        return await _revoke_elsewhere(node, uid, reason)
    held = load_record(store, uid)
    if held is None or held.state != BadgeState.REVOKED:
        record_revocation(node, uid, reason)
    await pipeline.publish(node, uid)  # a badge still waiting for its entry gets it first
    if store.get(Kind.JOURNAL, REVOKING_PREFIX + uid) is None:  # out already
        return await node.names.resolve(uid)
    try:
        return await publish_revocation(node, uid)
    except Unreachable:
        return None


async def _revoke_elsewhere(node: Services, uid: Uid, reason: str) -> Record:
    """Revoke a UID this node holds no issued copy of (say, issued offline with its key)."""
    now = _seconds(node.clock())
    record = await node.names.revoke(node.key, uid, reason, now)
    with node.store.batch() as batch:
        node.log.append(batch, "revoke", uid_text(uid), {"reason": reason})
    return record


def record_revocation(node: Services, uid: Uid, reason: str) -> None:
    """The list bit, the re-signed list, the "revoked" state, the "revoking" mark and the
    log entries, in one atomic write, for a badge this node holds."""
    store = node.store
    now = node.clock()
    credential = load_badge(store, uid)
    state = load_record(store, uid)
    if credential is None or state is None:
        raise IssuerError("this node holds no such badge", code="badge_not_found")
    mark = RevocationMark(reason=reason, at=_seconds(now))
    with status.changing(node):
        ops = status.revocation_ops(node, credential, now)
        with store.batch() as batch:
            for kind, key, value in ops:
                batch.put(kind, key, value)
            to = advance(state.state, BadgeState.REVOKED)
            put_record(batch, uid, state.with_members(state=to, revoked=format_created(now)))
            batch.put(Kind.JOURNAL, REVOKING_PREFIX + uid, mark.to_bytes())
            node.enqueue("revoke", uid, delay_s=node.settings.queue_retry_first_s, batch=batch)
            text = uid_text(uid)
            node.log.append(batch, "revoke", text, {"reason": reason})
            for list_id in status.changed_lists(ops):
                node.log.append(batch, "status-list", list_id, {"set": text})


async def publish_revocation(node: Services, uid: Uid) -> Record:
    """Publish the revocation a "revoking" mark holds, then clear the mark."""
    store = node.store
    raw = store.get(Kind.JOURNAL, REVOKING_PREFIX + uid)
    if raw is None:
        raise IssuerError("no revocation is waiting for this badge", code="revocation_missing")
    mark = RevocationMark.from_bytes(raw)
    if mark.reason is None or mark.at is None:  # not one this node wrote: nothing to publish
        store.delete(Kind.JOURNAL, REVOKING_PREFIX + uid)
        raise IssuerError("the recorded revocation is unreadable", code="revocation_missing")
    try:
        record = await node.names.revoke(node.key, uid, mark.reason, mark.at)
    except BadgeChainError as exc:
        if exc.code == "not_issuer":  # never ours to revoke: retrying cannot help
            store.delete(Kind.JOURNAL, REVOKING_PREFIX + uid)
        raise
    store.delete(Kind.JOURNAL, REVOKING_PREFIX + uid)
    return record


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())
