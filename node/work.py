"""The node's background work: one durable queue (storage/queue.py), one worker, one
handler per topic. It replaces the retry loops each workflow had (publishing badges,
revocations, personas, running batches, reconciling indexes); delivery keeps its outbox.

  publish    <UID>       a stored badge's BNS entry, then its delivery (node/pipeline.py)
  revoke     <UID>       a recorded revocation's BNS record (node/revocation.py)
  persona    <UID>       a persona's entry and location (node/personas.py)
  batch      <batch id>  the rows of a batch still to issue (node/batches.py)
  reconcile  indexes     index items concurrent writers pushed out; again each republish

At least once: an item stays until its handler returns True, so every handler is
idempotent (the journal marks it reads are the truth; the queue only schedules). A
failure is retried with doubling backoff; after `queue_max_attempts` the item is dead and
waits for `badgechain queue retry|drop`. `migrate` queues what the journal of a home
written before the queue holds, on every start (queuing twice does nothing).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.uid import Uid
from badgechain.storage import Kind
from badgechain.storage.queue import QueueItem

from . import batches, personas, pipeline, revocation
from .services import Services

__all__ = ["HANDLERS", "RECURRING", "migrate", "run_due", "run_worker"]

log = logging.getLogger(__name__)

Handler = Callable[[Services, bytes], Awaitable[bool]]
RECONCILE_KEY: Final = b"indexes"
_PARALLEL: Final = 8  # items worked on at once


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


async def _reconcile(services: Services, key: bytes) -> bool:
    await services.names.reconcile_indexes(services.key)
    return True


# Topics whose item, once done, is queued again this many seconds later.
RECURRING: Final[Mapping[str, Callable[[Services], float]]] = {
    "reconcile": lambda services: services.settings.dht.republish_interval,
}
HANDLERS: Final[Mapping[str, Handler]] = {
    "publish": _publish,
    "revoke": _revoke,
    "persona": _persona,
    "batch": _batch,
    "reconcile": _reconcile,
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
    queue.put("reconcile", RECONCILE_KEY, now + RECURRING["reconcile"](services))
    return found


async def run_due(services: Services) -> int:
    """Work once through the items due now; return how many were attempted."""
    due = services.queue.due(services.clock().timestamp(), _PARALLEL)
    await asyncio.gather(*(_attempt(services, item) for item in due))
    return len(due)


async def _attempt(services: Services, item: QueueItem) -> None:
    handler = HANDLERS.get(item.topic)
    try:
        if handler is None:
            raise BadgeChainError(f"no handler for {item.topic!r}", code="queue_topic_unknown")
        if await handler(services, item.key):
            services.queue.done(item)
            if item.topic in RECURRING:
                later = services.clock().timestamp() + RECURRING[item.topic](services)
                services.queue.put(item.topic, item.key, later)
            return
        error = "not done yet"
    except BadgeChainError as exc:
        error = f"{exc.code}: {exc.message}"
    except Exception as exc:  # a task root: logged, and retried like any failure
        log.exception("queue item %s failed", item.id)
        error = f"internal_error: {type(exc).__name__}"
    settings = services.settings
    delay = min(settings.queue_retry_max_s, settings.queue_retry_first_s * 2**item.attempts)
    failed = services.queue.failed(item, error, services.clock().timestamp() + delay)
    log.info("queue item will be retried", extra={"item": item.id, "dead": failed.dead})


async def run_worker(services: Services) -> None:
    """The worker: the due items, then a wait until the next is due (at most a tick) or
    something is queued (`services.wake`)."""
    while True:
        if await run_due(services):
            continue
        next_due = services.queue.next_due()
        now = services.clock().timestamp()
        wait = services.settings.queue_tick_s
        if next_due is not None:
            wait = max(0.0, min(wait, next_due - now))
        services.wake.clear()
        try:
            async with asyncio.timeout(wait):
                await services.wake.wait()
        except TimeoutError:
            pass
