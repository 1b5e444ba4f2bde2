"""Batches: many badges of one class, stored as rows first and issued in the background.

Crash safety: a row's UID is written in the same atomic write as its badge (node/pipeline.py),
and from reading the row to that write nothing awaits. So a crash at any moment issues no
row twice and loses none: a row without a UID was never issued; the next start resumes.

Journal:
  issuer/batch/<batch id>                 {"id", "class_id", "total", "created", "state"}
                                          (a BatchHeader, node/records.py)
  issuer/batch-row/<batch id>/<u32 index> {"to", "email", "valid_until", "evidence",
                                           "uid"?, "error"?}
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import replace
from typing import Any, Final

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import PublicKey
from badgechain.chain.proof import format_created
from badgechain.chain.uid import Uid, parse_uid, uid_text
from badgechain.storage import Batch, Kind, Store

from . import pipeline
from .badgestore import journal_record
from .classes import load_achievement, load_class
from .errors import IssuerError
from .issuer import Recipient, class_badge, earner_key_for, parse_recipient
from .pipeline import Issuance
from .records import BatchHeader
from .services import DELIVER_TOPIC, Services

log = logging.getLogger(__name__)

BATCH_PREFIX: Final = b"issuer/batch/"
ROW_PREFIX: Final = b"issuer/batch-row/"
MAX_BATCH_ROWS = 10_000
MAX_LISTED_ERRORS = 100
# Rows signed and stored in one atomic write, then published together (node/pipeline.py
# publish_many): enough to fill index pages and keep many DHT writes in flight; signing
# them holds the event loop for a few tens of milliseconds.
PUBLISH_CHUNK_ROWS = 64
# Chunks whose publishing is under way at once: their entries go out together, their index
# writes one chunk after the other.
PUBLISHING_CHUNKS = 3
# A batch's deliveries are queued with its rows' publishing but held until every chunk is out
# (then released at once): an earner's node taking a badge a moment (verify, store, sync)
# would otherwise slow the very peers the batch publishes to. Should the batch stop first,
# its next run releases them, or they fall due this much later anyway.
DELIVERY_HOLD_S = 600.0


def create_batch(node: Services, class_id: str, recipients: list[Recipient]) -> BatchHeader:
    """Store a batch and its rows durably, then issue them in the background."""
    store = node.store
    load_class(store, class_id)
    if not recipients:
        raise IssuerError("a batch needs at least one row", code="batch_invalid")
    if len(recipients) > MAX_BATCH_ROWS:
        raise IssuerError(f"a batch has at most {MAX_BATCH_ROWS} rows", code="batch_too_large")
    batch_id = secrets.token_urlsafe(9)
    header = BatchHeader(
        id=batch_id,
        class_id=class_id,
        total=len(recipients),
        created=format_created(node.clock()),
        state="running",
    )
    with store.batch() as batch:
        batch.put(Kind.JOURNAL, BATCH_PREFIX + batch_id.encode(), header.to_bytes())
        for index, recipient in enumerate(recipients):
            batch.put(Kind.JOURNAL, _row_key(batch_id, index), _dump(recipient.to_json()))
        node.enqueue("batch", batch_id.encode(), batch=batch)  # node/work.py runs it
    return header


def _row_key(batch_id: str, index: int) -> bytes:
    return ROW_PREFIX + batch_id.encode() + b"/" + index.to_bytes(4, "big")


def _rows(store: Store, batch_id: str) -> list[tuple[bytes, dict[str, Any]]]:
    prefix = ROW_PREFIX + batch_id.encode() + b"/"
    return [(key, dict(json.loads(value))) for key, value in store.scan(Kind.JOURNAL, prefix)]


def _load_batch(store: Store, batch_id: str) -> BatchHeader:
    found = journal_record(store, BATCH_PREFIX, batch_id, BatchHeader)
    if found is None:
        raise IssuerError(f"no batch {batch_id!r:.80}", code="batch_not_found")
    return found


def _class_of(header: BatchHeader) -> str:
    if header.class_id is None:  # a header this node wrote always names its class
        raise IssuerError(f"batch {header.id!r:.80} names no class", code="batch_invalid")
    return header.class_id


async def run_batch(node: Services, batch_id: str) -> None:
    """Issue every row of the batch that has neither a UID nor an error yet, in order.

    Rows are signed and stored a chunk at a time (one atomic write, one disk sync) and
    published a chunk at a time, with a few chunks' DHT writes in flight while the next
    chunk is signed. Rows whose publishing failed are left to their queued publish
    (node/work.py retries it); deliveries are released once every chunk is out."""
    store = node.store
    header = _load_batch(store, batch_id)
    class_id = _class_of(header)
    achievement = load_achievement(store, class_id)
    index_lock = asyncio.Lock()
    publishing: list[asyncio.Task[int]] = []
    try:
        for chunk in _chunks([key for key, _ in _rows(store, batch_id)], PUBLISH_CHUNK_ROWS):
            uids = await _issue_chunk(node, class_id, batch_id, achievement, chunk)
            while len(publishing) >= PUBLISHING_CHUNKS:
                await asyncio.wait(publishing, return_when=asyncio.FIRST_COMPLETED)
                publishing = [task for task in publishing if not _finished(task)]
            out = pipeline.publish_many(
                node, uids, index_lock=index_lock, delivery_delay_s=DELIVERY_HOLD_S
            )
            publishing.append(asyncio.ensure_future(out))
        await asyncio.gather(*publishing)
    finally:  # a stop (or an error) cancels the chunks in flight: their marks stay
        for task in publishing:
            task.cancel()
    done = header.with_members(state="done")
    with store.batch() as batch:  # the deliveries held go with the batch's end, in one write
        _release_deliveries(node, batch_id, batch)
        batch.put(Kind.JOURNAL, BATCH_PREFIX + batch_id.encode(), done.to_bytes())
    node.wake.set()


def _finished(task: asyncio.Task[int]) -> bool:
    if task.done():
        task.result()  # raises what the chunk's publishing raised
    return task.done()


def _chunks(keys: list[bytes], size: int) -> list[list[bytes]]:
    return [keys[start : start + size] for start in range(0, len(keys), size)]


def _release_deliveries(node: Services, batch_id: str, batch: Batch) -> None:
    """Make the batch's held deliveries due now (those never tried yet: a retry's own wait
    stays), into `batch`."""
    now = node.clock().timestamp()
    held = []
    for _, row in _rows(node.store, batch_id):
        if "uid" in row:
            item = node.queue.get(DELIVER_TOPIC, parse_uid(row["uid"]))
            if item is not None and item.attempts == 0 and item.due > now:
                held.append(item)
    node.queue.reschedule(held, now, batch)


async def _issue_chunk(
    node: Services, class_id: str, batch_id: str, achievement: dict[str, Any], keys: list[bytes]
) -> list[Uid]:
    """Sign and store the chunk's rows that are not done, in one atomic write; their UIDs.
    From reading the rows again to that write nothing awaits, so two runners of one batch
    (a double resume) cannot both issue a row."""
    store = node.store
    earner_keys: dict[bytes, PublicKey | None] = {}
    for key in keys:
        row = _row(store, key)
        if "uid" in row or "error" in row:
            continue
        try:
            earner_keys[key] = await earner_key_for(node, parse_recipient(row, now=node.clock()))
        except IssuerError as exc:  # a bad row or an unknown persona; Unreachable ends the
            # run, and the batch, still running, resumes on the next start
            _fail(store, key, row, exc)
    now = node.clock()
    details = {"class_id": class_id, "batch_id": batch_id}
    todo: list[tuple[bytes, dict[str, Any]]] = []
    issuances: list[Issuance] = []
    for key, earner_key in earner_keys.items():
        row = _row(store, key)  # again: the lookups awaited
        if "uid" in row or "error" in row:
            continue
        try:
            recipient = parse_recipient(row, now=now)
        except BadgeChainError as exc:  # e.g. valid_until passed while the batch waited
            _fail(store, key, row, exc)
            continue
        issuance = class_badge(node, achievement, recipient, now, earner_key, **details)
        issuances.append(_as_row(issuance, key, row))
        todo.append((key, row))
    uids = []
    for (key, row), result in zip(
        todo, pipeline.sign_and_store_many(node, issuances, now), strict=True
    ):
        if isinstance(result, BadgeChainError):
            _fail(store, key, row, result)
        else:
            uids.append(result.uid)  # stored, marked unpublished: published with its chunk
    return uids


def _as_row(issuance: Issuance, key: bytes, row: dict[str, Any]) -> Issuance:
    """`issuance` writing the row's UID in the badge's own atomic write. The batch publishes
    its rows itself (publish_many queues those it could not publish)."""
    return replace(
        issuance,
        # ...besides the issuance's own (an email badge's claim and mail, node/claims.py)
        more_writes=lambda signed: [
            *issuance.more_writes(signed),
            (Kind.JOURNAL, key, _done(row, signed.uid)),
        ],
        queue_publish=False,
    )


def _row(store: Store, key: bytes) -> dict[str, Any]:
    return dict(json.loads(store.get(Kind.JOURNAL, key) or b"{}"))


def _fail(store: Store, key: bytes, row: dict[str, Any], exc: BadgeChainError) -> None:
    store.put(Kind.JOURNAL, key, _dump(row | {"error": f"{exc.code}: {exc.message}"}))


def batch_progress(store: Store, batch_id: str, *, with_uids: bool = True) -> dict[str, Any]:
    """How far a batch is: counts, its UIDs in row order, and the first row errors."""
    header = _load_batch(store, batch_id)
    rows = _rows(store, batch_id)
    uids = [row["uid"] for _, row in rows if "uid" in row]
    errors = [
        {"row": int.from_bytes(key[-4:], "big") + 1, "error": row["error"]}
        for key, row in rows
        if "error" in row
    ]
    unpublished = len(pipeline.unpublished_in_batch(store, batch_id))
    progress = header.to_json() | {
        "done": len(uids),
        "failed": len(errors),
        "unpublished": unpublished,
        "errors": errors[:MAX_LISTED_ERRORS],
    }
    return (progress | {"uids": uids}) if with_uids else progress


async def resume_batches(node: Services) -> int:
    """Run every unfinished batch now, in the background; return how many. A started node
    queues them itself (node/work.py): this is a second runner, which issues nothing twice."""
    headers = [
        BatchHeader.from_bytes(raw) for _, raw in node.store.scan(Kind.JOURNAL, BATCH_PREFIX)
    ]
    running = [header.id for header in headers if header.state == "running" and header.id]
    node.spawn(_work_through(node, running))
    return len(running)


async def _work_through(node: Services, batch_ids: list[str]) -> None:
    """A background task's root: errors are logged; the queue still holds the batches."""
    try:
        for batch_id in batch_ids:
            await run_batch(node, batch_id)
    except Exception:
        log.exception("issuer background work failed", extra={"batches": batch_ids})


def _done(row: dict[str, Any], uid: Uid) -> bytes:
    return _dump(row | {"uid": uid_text(uid)})


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()
