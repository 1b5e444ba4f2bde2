"""The node's background work: one durable queue (storage/queue.py), one worker, one
handler per topic. It replaces the retry loops each workflow had (publishing badges,
delivering them, revocations, personas, running batches, reconciling indexes).

  publish    <UID>       a stored badge's BNS entry, then its delivery (node/pipeline.py)
  deliver    <UID>       a badge in the outbox, to its earner's inbox (node/delivery.py)
  revoke     <UID>       a recorded revocation's BNS record (node/revocation.py)
  persona    <UID>       a persona's entry and location (node/personas.py)
  batch      <batch id>  the rows of a batch still to issue (node/batches.py)
  reconcile  indexes     index items concurrent writers pushed out; again each republish
  mail       <UID>       a claim's mail to its earner, over SMTP (node/mail.py)
  claim-location <UID>   an unclaimed badge's issuer location (node/mail_claims.py)
  earner-reindex start|<UID>  re-sign an older home's earner index (node/index_migration.py)
  restore-location <JSON>  a restored badge's location, moved here (node/backpack_relocate.py)

At least once: an item stays until its handler returns True, so every handler is
idempotent (the journal marks it reads are the truth; the queue only schedules). A
failure is retried with doubling backoff (`NodeSettings.retry(topic)`); after its topic's
most attempts, or at once on a definite refusal (DeliveryRefused), the item is dead and
waits for `badgechain queue retry|drop`. `migrate` queues what the journal of a home
written before the queue holds, on every start (queuing twice does nothing).

The worker keeps up to `_PARALLEL` items in flight and starts the next due one as soon as
one ends, so a slow delivery (an earner's node away) holds back no other work. Finished
items leave the queue in groups (`WorkQueue.done_later`, flushed every `_GROUP_S` or
`_GROUP_ITEMS`): one synced write for many items instead of one each.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.uid import Uid
from badgechain.storage import Kind
from badgechain.storage.queue import QueueItem

from . import (
    backpack_relocate,
    batches,
    course_review,
    delivery,
    harvest,
    index_migration,
    mail,
    mail_claims,
    personas,
    pipeline,
    revocation,
    webmention,
)
from .services import DELIVER_TOPIC, Services

__all__ = ["HANDLERS", "RECURRING", "migrate", "run_due", "run_worker"]

log = logging.getLogger(__name__)

Handler = Callable[[Services, bytes], Awaitable[bool]]
RECONCILE_KEY: Final = b"indexes"
_PARALLEL: Final = 8  # items worked on at once
_READ_AHEAD: Final = 64  # due items one read of the queue lists for the worker to start
_GROUP_S: Final = 0.05  # the longest a finished item waits for its removal to be written
_GROUP_ITEMS: Final = 64  # ... or until this many are finished
# Errors that say retrying cannot help: the item is dead at once, for the operator.
_GIVE_UP: Final = (delivery.DeliveryRefused,)


async def _publish(services: Services, key: bytes) -> bool:
    return await pipeline.publish(services, Uid(key), deliver_now=False)


async def _revoke(services: Services, key: bytes) -> bool:
    uid = Uid(key)
    if services.store.get(Kind.JOURNAL, revocation.REVOKING_PREFIX + uid) is None:
        return True  # out already
    await pipeline.publish(services, uid, deliver_now=False)  # the entry goes out first
    try:
        await revocation.publish_revocation(services, uid)
    except BadgeChainError as exc:
        if exc.code != "not_issuer":  # someone else's badge: nothing this node can publish
            raise
    return True


async def _persona(services: Services, key: bytes) -> bool:
    uid = Uid(key)
    if services.store.get(Kind.JOURNAL, personas.UNPUBLISHED_PERSONA_PREFIX + uid) is None:
        return True
    await personas.publish_persona(services, uid)
    return True


async def _batch(services: Services, key: bytes) -> bool:
    await batches.run_batch(services, key.decode())
    return True


async def _harvest(services: Services, key: bytes) -> bool:
    """A course's scheduled harvest (node/harvest.py); a course gone ends its schedule."""
    try:
        await harvest.harvest_course(services, key.decode(), course_review.auto_award)
    except BadgeChainError as exc:
        if exc.code == "course_not_found":
            return True
        raise
    return True


async def _reconcile(services: Services, key: bytes) -> bool:
    await services.names.reconcile_indexes(services.key)
    return True


# Topics whose item, once done, is queued again this many seconds later.
RECURRING: Final[Mapping[str, Callable[[Services], float]]] = {
    "reconcile": lambda services: services.settings.dht.republish_interval,
    harvest.HARVEST_TOPIC: lambda services: services.settings.harvest_interval_s,
}
HANDLERS: Final[Mapping[str, Handler]] = {
    "publish": _publish,
    DELIVER_TOPIC: delivery.deliver,
    "revoke": _revoke,
    "persona": _persona,
    "batch": _batch,
    "reconcile": _reconcile,
    harvest.HARVEST_TOPIC: _harvest,
    webmention.SEND_TOPIC: webmention.send,
    webmention.RECEIVE_TOPIC: webmention.verify_received,
    harvest.HARVEST_NOW_TOPIC: course_review.run_requested_harvest,
    mail.MAIL_TOPIC: mail.send,  # a claim's mail (node/claims.py); SMTP down: retried
    mail_claims.LOCATION_TOPIC: mail_claims.publish_location,  # an email badge's, till claimed
    index_migration.REINDEX_TOPIC: index_migration.reindex,  # a pre-earner-owned-index home
    backpack_relocate.RELOCATE_TOPIC: backpack_relocate.relocate,  # a restored badge's location
}


def migrate(services: Services) -> int:
    """Queue, due now, the work the journal holds (marks and running batches), and the
    recurring reconcile; return how many items that names."""
    store, queue = services.store, services.queue
    now = services.clock().timestamp()
    marks = {
        "publish": pipeline.UNPUBLISHED_PREFIX,
        "revoke": revocation.REVOKING_PREFIX,
        "persona": personas.UNPUBLISHED_PERSONA_PREFIX,
        mail.MAIL_TOPIC: mail.PENDING_PREFIX,
    }
    found = 0
    for topic, prefix in marks.items():
        for key, _ in store.scan(Kind.JOURNAL, prefix):
            queue.put(topic, key[len(prefix) :], now)
            found += 1
    for _, value in store.scan(Kind.JOURNAL, batches.BATCH_PREFIX):
        header = json.loads(value)
        if header["state"] == "running":
            queue.put("batch", header["id"].encode(), now)
            found += 1
    found += mail_claims.queue_open_claims(services)  # their location, if a home lacks it
    found += index_migration.migrate_earner_index(services)  # once per home
    queue.put("reconcile", RECONCILE_KEY, now + RECURRING["reconcile"](services))
    return found


async def run_due(services: Services) -> int:
    """Work once through the items due now; return how many were attempted."""
    due = services.queue.due(services.clock().timestamp(), _PARALLEL)
    try:
        await asyncio.gather(*(_attempt(services, item) for item in due))
    finally:
        services.queue.flush()
    return len(due)


async def _attempt(services: Services, item: QueueItem) -> None:
    handler = HANDLERS.get(item.topic)
    queue = services.queue
    try:
        if handler is None:
            raise BadgeChainError(f"no handler for {item.topic!r}", code="queue_topic_unknown")
        if await handler(services, item.key):
            queue.done_later(item)
            if item.topic in RECURRING:
                later = services.clock().timestamp() + RECURRING[item.topic](services)
                queue.put(item.topic, item.key, later)
            return
        error = "not done yet"
    except _GIVE_UP as exc:
        queue.give_up(item, f"{exc.code}: {exc.message}")
        log.warning("queue item given up", extra={"item": item.id, "code": exc.code})
        return
    except BadgeChainError as exc:
        error = f"{exc.code}: {exc.message}"
    except Exception as exc:  # a task root: logged, and retried like any failure
        log.exception("queue item %s failed", item.id)
        error = f"internal_error: {type(exc).__name__}"
    retry = services.settings.retry(item.topic)
    retry_at = services.clock().timestamp() + retry.delay(item.attempts + 1)
    failed = queue.failed(item, error, retry_at, retry.max_attempts)
    log.info("queue item will be retried", extra={"item": item.id, "dead": failed.dead})


async def run_worker(services: Services) -> None:
    """The worker: keep up to `_PARALLEL` due items in flight, starting the next as soon as
    one ends; otherwise wait until the next is due (at most a tick) or something is queued
    (`services.wake`). Never ends on its own; stopping the node cancels it."""
    worker = _Worker(services)
    try:
        while True:
            await worker.step()
    finally:
        await worker.cancel()
        services.queue.flush()


class _Worker:
    """The worker's state between steps. One read of the queue's due index lists up to
    `_READ_AHEAD` due items and the following steps start them (each read again by its key
    first: it may have been done, dropped or retried meanwhile)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.in_flight: dict[str, asyncio.Task[None]] = {}
        self.ready: collections.deque[QueueItem] = collections.deque()
        self.next_due: float | None = None  # the earliest live item not read into `ready`
        self.flushed_at = asyncio.get_running_loop().time()

    def _flush_if_due(self) -> None:
        queue, at = self.services.queue, asyncio.get_running_loop().time()
        if queue.held >= _GROUP_ITEMS or (queue.held and at - self.flushed_at >= _GROUP_S):
            queue.flush()
        if not queue.held:
            self.flushed_at = at

    async def step(self) -> None:
        services = self.services
        self._flush_if_due()
        if not self.ready or services.wake.is_set():
            services.wake.clear()
            self._read()
        self._start_ready()
        woken = asyncio.ensure_future(services.wake.wait())
        try:
            await asyncio.wait(
                [woken, *self.in_flight.values()],
                timeout=self._wait_s(),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            woken.cancel()

    def _read(self) -> None:
        queue, now = self.services.queue, self.services.clock().timestamp()
        due = queue.due(now, _READ_AHEAD + 1, skip=frozenset(self.in_flight))
        self.ready = collections.deque(due[:_READ_AHEAD])
        self.next_due = now if len(due) > _READ_AHEAD else queue.next_due(after=now)

    def _start_ready(self) -> None:
        queue, now = self.services.queue, self.services.clock().timestamp()
        while self.ready and len(self.in_flight) < _PARALLEL:
            listed = self.ready.popleft()
            item = queue.get(listed.topic, listed.key)
            if item is None or item.dead or item.due > now or item.id in self.in_flight:
                continue
            task = asyncio.ensure_future(_attempt(self.services, item))
            self.in_flight[item.id] = task
            task.add_done_callback(functools.partial(_landed, self.in_flight, item.id))

    def _wait_s(self) -> float:
        """Until a slot frees (every one taken), or the next unread item is due; at most a
        tick. (Read items left over always wait for a free slot.)"""
        wait = self.services.settings.queue_tick_s
        if self.services.queue.held:
            wait = min(wait, _GROUP_S)
        if len(self.in_flight) >= _PARALLEL or self.next_due is None:
            return wait
        return min(wait, max(0.0, self.next_due - self.services.clock().timestamp()))

    async def cancel(self) -> None:
        for task in self.in_flight.values():
            task.cancel()
        await asyncio.gather(*self.in_flight.values(), return_exceptions=True)


def _landed(in_flight: dict[str, asyncio.Task[None]], item_id: str, _: object) -> None:
    in_flight.pop(item_id, None)
