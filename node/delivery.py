"""Badges on their way to their earners' inboxes, and this node's own inbox announcement.

An issuer knows the earner's did:key; the earner's node announces in the DHT, signed by
that key, the URL of its inbox (bns/inbox.py). A delivery is written to a durable outbox
first, then POSTed; what fails is retried with backoff by the node's work queue (topic
"deliver", node/work.py), across restarts. A definite refusal makes the item dead at once:
the operator sees it in `GET /admin/queue` and may retry or drop it. One attempt (find the
inbox, POST) is node/inbox_client.py's; its names are importable from here too.

Outbox (Kind.JOURNAL): b"outbox/doc/" + UID → the credential JSON; b"outbox/to/" + UID →
the earner's 32-byte public key; the queue item "deliver" + UID → when, how often, why.
All three are written in one batch. The previous layout kept the schedule as JSON under
b"outbox/meta/" + UID; `migrate_outbox` moves such entries onto the queue on start.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Final, Literal

from badgechain.bns.errors import RecordError
from badgechain.bns.inbox import InboxRecord, make_inbox_record
from badgechain.bns.inbox_records import InboxRecords
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.keys import PublicKey
from badgechain.chain.uid import Uid
from badgechain.storage import Batch, Kind, Store
from badgechain.storage.queue import QueueItem, queued

from .inbox_client import (
    MAX_INBOX_BYTES,
    DeliveryError,
    DeliveryRefused,
    credential_bytes,
    earner_key_of,
    find_inbox,
    find_inbox_cached,
    forget_inbox,
    post_credential,
)
from .services import DELIVER_TOPIC, Services

__all__ = [
    "INBOX_PATH",
    "MAX_INBOX_BYTES",
    "OUTBOX_PREFIX",
    "DeliveryError",
    "DeliveryRefused",
    "DeliveryStatus",
    "OutboxEntry",
    "announce_inbox",
    "deliver",
    "earner_key_of",
    "enqueue_delivery",
    "find_inbox",
    "migrate_outbox",
    "outbox",
    "post_credential",
    "queue_delivery",
    "start_delivery",
]

log = logging.getLogger(__name__)

INBOX_PATH: Final = "/inbox"
OUTBOX_PREFIX: Final = b"outbox/"
_OLD_META: Final = OUTBOX_PREFIX + b"meta/"  # the previous layout's schedule (migrated)
_DOC: Final = OUTBOX_PREFIX + b"doc/"
_TO: Final = OUTBOX_PREFIX + b"to/"
_INBOX_SEQ: Final = b"inbox/seq"  # the last seq this node signed for its announcement

DeliveryStatus = Literal["delivered", "queued", "no_inbox", "refused"]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One pending delivery, as its queue item tells it. `due` is the Unix time of the next
    attempt; None once the queue gave up (a refusal, or too many failures). `error` is the
    code of the last failure."""

    uid: Uid
    due: float | None
    attempts: int = 0
    error: str = ""
    # Whose inbox, when the subject names no did:key (a persona or an endorsed badge).
    earner_key: PublicKey | None = None

    @classmethod
    def from_old_meta(cls, uid: Uid, data: bytes) -> OutboxEntry:
        """An entry as the previous layout stored it (JSON under b"outbox/meta/")."""
        value = json.loads(data)
        earner = value.get("earner")
        earner_key = None if earner is None else PublicKey(bytes.fromhex(earner))
        due = value["due"]
        return cls(
            uid,
            None if due is None else float(due),
            int(value["attempts"]),
            str(value["error"]),
            earner_key,
        )


def _now(node: Services) -> float:
    return node.clock().timestamp()


def _lease_s(node: Services) -> float:
    """How far a first attempt pushes its queue item: past the attempt's end, so the
    worker never sends a badge that the issuing request is still sending."""
    return node.settings.delivery_attempt_timeout_s + 5.0


# --- this node's inbox ------------------------------------------------------------------------


async def announce_inbox(node: Services) -> InboxRecord:
    """Sign and publish where this node's inbox is; the DHT's writer republishing keeps it.

    The seq is above both what this node signed before and what the network holds, so a
    home restored without its database still replaces its old announcement.
    """
    store = node.store
    signed_seq = int.from_bytes(store.get(Kind.JOURNAL, _INBOX_SEQ) or bytes(8), "big")
    held = await _held_announcement(node.inboxes, node.key.public_key)
    seq = max(signed_seq, held.seq if held else 0) + 1
    record = make_inbox_record(node.key, node.gateway_url + INBOX_PATH, seq)
    store.put(Kind.JOURNAL, _INBOX_SEQ, seq.to_bytes(8, "big"))
    result = await node.inboxes.publish(record)
    if result.accepted == 0:
        raise RecordError(
            f"every replica refused the inbox announcement: {result.refused}",
            code="inbox_refused",
        )
    log.info("inbox announced", extra={"url": record.url, "seq": seq})
    return record


async def _held_announcement(inboxes: InboxRecords, key: PublicKey) -> InboxRecord | None:
    try:
        return await find_inbox(inboxes, key)
    except BadgeChainError:  # nothing held, or nobody answered: the local seq decides
        return None


async def _keep_announcing(node: Services) -> None:
    """Retry the announcement until the network takes it (a first node starts alone)."""
    attempts = 0
    while True:
        attempts += 1
        wait = node.settings.retry(DELIVER_TOPIC).delay(attempts)
        await asyncio.sleep(min(node.settings.announce_retry_max_s, wait))
        try:
            await announce_inbox(node)
            return
        except BadgeChainError as exc:
            log.info("inbox announcement failed, will retry", extra={"code": exc.code})


async def start_delivery(node: Services) -> None:
    """Announce this node's inbox and put the outbox of a home written by the previous
    layout onto the queue; call once the gateway serves (the announced URL holds its
    port). Node.start() calls it once, before the queue's worker starts."""
    moved = migrate_outbox(node)
    if moved:
        log.info("outbox entries moved onto the work queue", extra={"entries": moved})
    try:
        await announce_inbox(node)
    except BadgeChainError as exc:
        log.info("inbox announcement failed, will retry", extra={"code": exc.code})
        node.spawn(_keep_announcing(node))


# --- the outbox ------------------------------------------------------------------------------


def outbox(store: Store) -> list[OutboxEntry]:
    """Every delivery not yet made, in UID order."""
    return [_entry(store, item) for item in queued(store, DELIVER_TOPIC)]


def _entry(store: Store, item: QueueItem) -> OutboxEntry:
    earner = _earner_key(store, Uid(item.key))
    due = None if item.dead else item.due
    code = item.error.partition(":")[0]
    return OutboxEntry(Uid(item.key), due, item.attempts, code, earner)


def _earner_key(store: Store, uid: Uid) -> PublicKey | None:
    raw = store.get(Kind.JOURNAL, _TO + uid)
    return None if raw is None else PublicKey(raw)


def _load_credential(store: Store, uid: Uid) -> dict[str, Any] | None:
    raw = store.get(Kind.JOURNAL, _DOC + uid)
    value = None if raw is None else parse_json(raw)
    return value if isinstance(value, dict) else None


async def enqueue_delivery(
    node: Services,
    uid: Uid,
    credential: dict[str, Any],
    *,
    try_now: bool = True,
    earner_key: PublicKey | None = None,
) -> DeliveryStatus:
    """Write the delivery to the outbox, then (with `try_now`) make a first attempt.

    The inbox is that of `earner_key` if given (a badge issued to a persona, an endorsement),
    else of the subject's did:key. "no_inbox": neither names a key, nothing is queued.
    "queued": the work queue will try (again). "delivered", or "refused" (the queue item is
    dead: never retried unless the operator says so).
    Raises DeliveryRefused (`body_too_large`), queuing nothing, for a badge no inbox takes.
    """
    with node.store.batch() as batch:
        queued = queue_delivery(
            node, batch, uid, credential, earner_key, delay_s=_lease_s(node) if try_now else 0.0
        )
    if not queued:
        return "no_inbox"
    item = node.queue.get(DELIVER_TOPIC, uid)
    if not try_now or item is None:
        return "queued"
    return await _first_attempt(node, item)


def queue_delivery(
    node: Services,
    batch: Batch,
    uid: Uid,
    credential: dict[str, Any],
    earner_key: PublicKey | None = None,
    *,
    delay_s: float = 0.0,
) -> bool:
    """The outbox writes of `enqueue_delivery`, into the caller's `batch` (many badges in
    one write); False when no inbox is named. Raises DeliveryRefused as it does."""
    earner_key = earner_key or earner_key_of(credential)
    if earner_key is None:
        return False
    batch.put(Kind.JOURNAL, _DOC + uid, credential_bytes(credential))
    batch.put(Kind.JOURNAL, _TO + uid, bytes(earner_key))
    node.enqueue(DELIVER_TOPIC, uid, delay_s=delay_s, batch=batch)
    return True


async def _first_attempt(node: Services, item: QueueItem) -> DeliveryStatus:
    """The attempt the issuing request makes itself; its outcome goes to the queue item as
    the worker's would (node/work.py)."""
    queue = node.queue
    try:
        await deliver(node, item.key)
    except DeliveryRefused as exc:
        queue.give_up(item, f"{exc.code}: {exc.message}")
        log.warning("delivery refused", extra={"uid": item.key.hex()[:16], "code": exc.code})
        return "refused"
    except BadgeChainError as exc:
        retry = node.settings.retry(DELIVER_TOPIC)
        retry_at = _now(node) + retry.delay(item.attempts + 1)
        queue.failed(item, f"{exc.code}: {exc.message}", retry_at, retry.max_attempts)
        log.info(
            "delivery failed, will retry", extra={"uid": item.key.hex()[:16], "code": exc.code}
        )
        return "queued"
    queue.done(item)
    return "delivered"


async def deliver(node: Services, key: bytes) -> bool:
    """The queue's handler of topic "deliver": POST the outbox's badge `key` to its earner's
    inbox; the outbox is cleared with the queue item (`WorkQueue.on_done`). Idempotent: an
    entry delivered already is done (and an inbox takes the same badge twice without harm).
    Raises DeliveryRefused for good, DeliveryError for "later"."""
    store, uid = node.store, Uid(key)
    credential = _load_credential(store, uid)
    # The outbox records go in the same write as the queue item's removal (grouped by the
    # worker): a crash before it sends the badge again, which an inbox takes without harm.
    clean_up = [(Kind.JOURNAL, _DOC + uid), (Kind.JOURNAL, _TO + uid)]
    if credential is None:  # delivered already (or never written): nothing to send
        node.queue.on_done(DELIVER_TOPIC, uid, clean_up)
        return True
    earner_key = _earner_key(store, uid) or earner_key_of(credential)
    if earner_key is None:
        raise DeliveryRefused("the subject has no did:key", code="no_inbox")
    settings = node.settings
    try:
        async with asyncio.timeout(settings.delivery_attempt_timeout_s):
            record = await find_inbox_cached(node.inboxes, earner_key)
            await post_credential(
                node.config, record.url, credential, timeout_s=settings.delivery_post_timeout_s
            )
    except TimeoutError as exc:
        forget_inbox(node.inboxes, earner_key)
        raise DeliveryError("the delivery took too long", code="delivery_timeout") from exc
    except BadgeChainError:
        forget_inbox(node.inboxes, earner_key)  # the earner may have moved: look again next time
        raise
    node.queue.on_done(DELIVER_TOPIC, uid, clean_up)
    log.info("badge delivered", extra={"uid": uid.hex()[:16], "inbox": record.url})
    return True


def migrate_outbox(node: Services) -> int:
    """Put the outbox entries of the previous layout (b"outbox/meta/") onto the work queue,
    keeping their due time, attempts and refusal; drop the outbox documents no queue item
    names any more (delivered before a crash, or dropped by the operator). Returns how
    many entries moved. Safe to run on every start."""
    store, queue = node.store, node.queue
    moved = 0
    for key, value in list(store.scan(Kind.JOURNAL, _OLD_META)):
        uid = Uid(key[len(_OLD_META) :])
        with store.batch() as batch:
            batch.delete(Kind.JOURNAL, key)
            if store.get(Kind.JOURNAL, _DOC + uid) is None:
                continue  # a schedule without its document cannot be sent
            try:
                entry = OutboxEntry.from_old_meta(uid, value)
            except (ValueError, KeyError, TypeError, AttributeError):  # unreadable: send anew
                entry = OutboxEntry(uid, _now(node))
            if entry.earner_key is not None:
                batch.put(Kind.JOURNAL, _TO + uid, bytes(entry.earner_key))
            due = _now(node) if entry.due is None else entry.due
            item = QueueItem(
                DELIVER_TOPIC, uid, due, entry.attempts, entry.error, entry.due is None
            )
            queue.restore(item, batch)
            moved += 1
    # Every entry of this layout has its small "to" key: scan those, not the documents.
    orphans = [
        Uid(key[len(_TO) :])
        for key, _ in store.scan(Kind.JOURNAL, _TO)
        if queue.get(DELIVER_TOPIC, key[len(_TO) :]) is None
    ]
    for uid in orphans:
        with store.batch() as batch:
            batch.delete(Kind.JOURNAL, _DOC + uid)
            batch.delete(Kind.JOURNAL, _TO + uid)
    return moved
