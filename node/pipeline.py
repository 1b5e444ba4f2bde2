"""The one way this node issues a credential: build → sign once → store → publish → deliver.

Every entry point (a class badge, a batch row, POST /credentials/issue, an endorsement, a
persona's genesis badge) describes what to issue as an `Issuance` and hands it to
`issue()` (or, when its publishing differs, to `sign_and_store()`); the offline CLI uses
the signing step alone (`sign()`, from chain/signing.py, so that it needs no node).

1. build:  the entry point's function makes the unsigned credential, given the status list
           entry taken for it (node/status.py) when it asks for one;
2. sign:   `sign()` computes the signing input once (for eddsa-rdfc-2022: two
           canonicalisations, the proof options and the document) and keeps it;
3. store:  the badge, its state, its status list bits, its journal marks and its log entry
           go to LevelDB in one atomic write; from taking the status index to that write
           nothing awaits, so a crash leaves all of it or none;
4. publish: the BNS entry is made from the kept signing input (no canonicalisation again);
           the "unpublished" mark carries it, so a retry after a restart needs none either;
5. deliver: the badge goes to the outbox, and is tried at once unless the caller says not.

Journal: issuer/unpublished/<64-byte UID> → {"created", "earner", "input"?, "batch"?};
"input" (hex) is optional: a mark written before it is published by re-deriving the input;
"batch" names a batch row's batch (a mark written before it says so through the badge state).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from badgechain.bns.bulk import publish_many as publish_entries
from badgechain.bns.record import Entry, entry_from_badge, make_entry
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import PublicKey
from badgechain.chain.proof import RDFC
from badgechain.chain.signing import Signed, sign
from badgechain.chain.uid import Uid, uid_text
from badgechain.storage import Batch, Kind, Store

from . import status
from .badgestore import load_badge, load_state, put_badge
from .delivery import enqueue_delivery, queue_delivery
from .didweb import method_for
from .services import Services

__all__ = [
    "UNPUBLISHED_PREFIX",
    "Issuance",
    "IssueResult",
    "Op",
    "Signed",
    "issue",
    "publish",
    "publish_many",
    "sign",
    "sign_and_store",
    "sign_and_store_many",
    "unpublished_in_batch",
]

log = logging.getLogger(__name__)

UNPUBLISHED_PREFIX: Final = b"issuer/unpublished/"
# What of an issued badge's state its log entry repeats (never the earner: it is in the BNS).
_LOGGED_STATE: Final[tuple[str, ...]] = ("class_id", "batch_id", "via", "endorsed")

Op = tuple[Kind, bytes, bytes]


@dataclass(frozen=True, slots=True)
class IssueResult:
    uid: Uid
    credential: dict[str, Any]
    published: bool  # False: stored, and the BNS entry will be published by a retry

    def to_json(self) -> dict[str, Any]:
        return {
            "uid": uid_text(self.uid),
            "credential": self.credential,
            "published": self.published,
        }


def _no_ops(_: Signed) -> Iterable[Op]:
    return ()


@dataclass(frozen=True, slots=True)
class Issuance:
    """What an entry point asks to issue. `build` makes the unsigned credential from the
    status entry taken for it (None when `with_status` is False); `state` is the badge's
    stored state; `more_writes` gives more writes for the same atomic batch, given the
    signed credential."""

    build: Callable[[dict[str, Any] | None], dict[str, Any]]
    state: dict[str, Any]
    earner_key: PublicKey | None
    with_status: bool = True
    suite: str = RDFC
    action: str = "issue"  # the log entry's action
    more_writes: Callable[[Signed], Iterable[Op]] = field(default=_no_ops)
    unpublished_mark: bool = True  # False: the entry point publishes (a persona) itself
    log_details: dict[str, Any] | None = None  # None: what the state says (_LOGGED_STATE)
    # False: no publish is queued with the mark; the caller publishes with `publish_many`,
    # which queues those it could not publish (a start queues every mark left by a crash).
    queue_publish: bool = True


def sign_and_store(node: Services, issuance: Issuance, now: datetime) -> Signed:
    """Steps 1 to 3, with no await between taking a status index and the atomic write."""
    signed, taken = _build_and_sign(node, issuance, now)
    with node.store.batch() as batch:
        _store_into(node, batch, issuance, signed, taken, now)
    return signed


def sign_and_store_many(
    node: Services, issuances: Sequence[Issuance], now: datetime
) -> list[Signed | BadgeChainError]:
    """Steps 1 to 3 for many credentials (a batch's chunk) in one atomic write, so one disk
    sync for all of them; each result is the signed credential or why it could not be built.
    No await from the first status index to the write: a crash stores all or none."""
    results: list[Signed | BadgeChainError] = []
    with node.store.batch() as batch:
        for issuance in issuances:
            try:  # e.g. a valid_until passed: this credential only
                signed, taken = _build_and_sign(node, issuance, now)
            except BadgeChainError as exc:
                results.append(exc)
                continue
            _store_into(node, batch, issuance, signed, taken, now)
            results.append(signed)
    return results


def _build_and_sign(node: Services, issuance: Issuance, now: datetime) -> tuple[Signed, list[Op]]:
    """Steps 1 and 2, and the writes that take the credential's status index."""
    entry, taken = status.allocate_entry(node, now) if issuance.with_status else (None, [])
    unsigned = issuance.build(entry)
    return sign(unsigned, node.key, now, issuance.suite, method_for(node, unsigned)), taken


def _store_into(
    node: Services,
    batch: Batch,
    issuance: Issuance,
    signed: Signed,
    taken: Iterable[Op],
    now: datetime,
) -> None:
    """Step 3: everything about one issued credential, into `batch`."""
    details = issuance.log_details
    if details is None:
        details = {name: issuance.state[name] for name in _LOGGED_STATE if name in issuance.state}
    uid = put_badge(batch, signed.credential, issuance.state)
    if issuance.unpublished_mark:
        mark = _mark(signed, issuance, int(now.timestamp()))
        batch.put(Kind.JOURNAL, UNPUBLISHED_PREFIX + uid, mark)
        if issuance.queue_publish:  # published by the caller; should that fail, by the queue
            node.enqueue("publish", uid, delay_s=node.settings.queue_retry_first_s, batch=batch)
    for kind, key, value in [*issuance.more_writes(signed), *taken]:
        batch.put(kind, key, value)
    node.log.append(batch, issuance.action, uid_text(uid), details)


async def issue(node: Services, issuance: Issuance, *, deliver_now: bool = True) -> IssueResult:
    """The whole pipeline for one credential."""
    signed = sign_and_store(node, issuance, node.clock())
    published = await publish(node, signed.uid, deliver_now=deliver_now)
    return IssueResult(signed.uid, signed.credential, published)


def _mark(signed: Signed, issuance: Issuance, created: int) -> bytes:
    earner = None if issuance.earner_key is None else issuance.earner_key.hex()
    mark = {"created": created, "earner": earner, "input": signed.signing_input.hex()}
    if "batch_id" in issuance.state:
        mark["batch"] = issuance.state["batch_id"]
    return json.dumps(mark).encode()


def unpublished_in_batch(store: Store, batch_id: str) -> list[Uid]:
    """The badges of a batch still marked unpublished: read from the marks (few, once the
    batch is out), not from the batch's rows."""
    found = []
    for key, value in store.scan(Kind.JOURNAL, UNPUBLISHED_PREFIX):
        uid, batch = Uid(key[len(UNPUBLISHED_PREFIX) :]), json.loads(value).get("batch")
        if batch is None:  # a mark from before marks named their batch
            batch = (load_state(store, uid) or {}).get("batch_id")
        if batch == batch_id:
            found.append(uid)
    return found


async def publish(node: Services, uid: Uid, *, deliver_now: bool = True) -> bool:
    """Steps 4 and 5 for a stored badge still marked unpublished; False if publishing
    failed (the mark stays for a retry). Again for a badge that is out already is harmless:
    the entry is the same bytes (Ed25519 is deterministic); the outbox keys by UID."""
    found = _marked(node, uid)
    if found is None:
        return True
    entry, credential = found
    try:
        await node.names.publish(node.key, entry)
    except BadgeChainError as exc:
        log.warning("publishing a badge failed; will retry", extra={"code": exc.code})
        return False
    await _published(node, entry, credential, deliver_now=deliver_now)
    return True


async def publish_many(
    node: Services,
    uids: Sequence[Uid],
    *,
    index_lock: asyncio.Lock | None = None,
    delivery_delay_s: float = 0.0,
) -> int:
    """Steps 4 and 5 for many stored badges (a batch's rows) at once: the entries go out with
    many DHT writes in flight and their index items many to a page write (bns/bulk.py); the
    work queue delivers, `delivery_delay_s` from now (a batch holds its deliveries while it
    publishes). Returns how many are out; one that is not keeps its mark, and its queued
    publish tries it again alone."""
    found = {uid: marked for uid in uids if (marked := _marked(node, uid)) is not None}
    entries = [entry for entry, _ in found.values()]
    failed = await publish_entries(node.names, node.key, entries, index_lock=index_lock)
    if failed:
        codes = sorted({exc.code for exc in failed.values()})
        log.warning("publishing %d badges failed; will retry", len(failed), extra={"codes": codes})
    with node.store.batch() as batch:  # one write for the chunk's deliveries and marks
        for uid, (entry, credential) in found.items():
            if uid in failed:  # node/work.py tries it again (a no-op if queued already)
                node.enqueue("publish", uid, delay_s=node.settings.queue_retry_first_s, batch=batch)
                continue
            try:
                earner = entry.earner_key
                queue_delivery(node, batch, uid, credential, earner, delay_s=delivery_delay_s)
            except BadgeChainError as exc:  # published; the mark stays: the next start queues it
                log.warning("queueing a badge for delivery failed", extra={"code": exc.code})
                continue
            batch.delete(Kind.JOURNAL, UNPUBLISHED_PREFIX + uid)
    return len(found) - len(failed)


def _marked(node: Services, uid: Uid) -> tuple[Entry, dict[str, Any]] | None:
    """The BNS entry of a stored badge still marked unpublished, and the badge."""
    store = node.store
    raw = store.get(Kind.JOURNAL, UNPUBLISHED_PREFIX + uid)
    credential = load_badge(store, uid)
    if raw is None or credential is None:
        return None
    mark = json.loads(raw)
    earner = None if mark["earner"] is None else PublicKey(bytes.fromhex(mark["earner"]))
    difficulty = node.config.pow_difficulty
    if "input" in mark:
        message = bytes.fromhex(mark["input"])
        entry = make_entry(node.key, uid, message, earner, mark["created"], difficulty=difficulty)
    else:  # a mark written before marks kept the signing input
        entry = entry_from_badge(
            credential, node.key, earner, mark["created"], difficulty=difficulty
        )
    return entry, credential


async def _published(
    node: Services, entry: Entry, credential: dict[str, Any], *, deliver_now: bool
) -> None:
    """Step 5 for a badge whose entry is out; then its mark goes."""
    uid = entry.uid
    try:
        await enqueue_delivery(
            node, uid, credential, try_now=deliver_now, earner_key=entry.earner_key
        )
    except BadgeChainError as exc:  # published; the mark stays, so the next start queues it
        log.warning("queueing a badge for delivery failed", extra={"code": exc.code})
        return
    node.store.delete(Kind.JOURNAL, UNPUBLISHED_PREFIX + uid)
