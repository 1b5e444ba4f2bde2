"""The node's background work: one durable queue (storage/queue.py), one worker, one
handler per topic. It replaces the retry loops each workflow had (publishing badges,
delivering them, revocations, personas, running batches, reconciling indexes).

  publish    <UID>       a stored badge's BNS entry, then its delivery (node/pipeline.py)
  deliver    <UID>       a badge in the outbox, to its earner's inbox (node/delivery.py)
  revoke     <UID>       a recorded revocation's BNS record (node/revocation.py)
  persona    <UID>       a persona's entry and location (node/personas.py)
  batch      <batch id>  the rows of a batch still to issue (node/batches.py)
  reconcile  indexes     index items concurrent writers pushed out; again each republish

At least once: an item stays until its handler returns True, so every handler is
idempotent (the journal marks it reads are the truth; the queue only schedules). A
failure is retried with doubling backoff (`NodeSettings.retry(topic)`); after its topic's
most attempts, or at once on a definite refusal (DeliveryRefused), the item is dead and
waits for `badgechain queue retry|drop`. `migrate` queues what the journal of a home
written before the queue holds, on every start (queuing twice does nothing).

The worker keeps up to `_PARALLEL` items in flight and starts the next due one as soon as
one ends, so a slow delivery (an earner's node away) holds back no other work.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.uid import Uid
from badgechain.storage import Kind
from badgechain.storage.queue import QueueItem

from . import batches, delivery, personas, pipeline, revocation
from .services import DELIVER_TOPIC, Services

__all__ = ["HANDLERS", "RECURRING", "migrate", "run_due", "run_worker"]

log = logging.getLogger(__name__)

Handler = Callable[[Services, bytes], Awaitable[bool]]
RECONCILE_KEY: Final = b"indexes"
_PARALLEL: Final = 8  # items worked on at once
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


async def _reconcile(services: Services, key: bytes) -> bool:
    await services.names.reconcile_indexes(services.key)
    return True


# Topics whose item, once done, is queued again this many seconds later.
RECURRING: Final[Mapping[str, Callable[[Services], float]]] = {
    "reconcile": lambda services: services.settings.dht.republish_interval,
}
HANDLERS: Final[Mapping[str, Handler]] = {
    "publish": _publish,
    DELIVER_TOPIC: delivery.deliver,
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
    queue = services.queue
    try:
        if handler is None:
            raise BadgeChainError(f"no handler for {item.topic!r}", code="queue_topic_unknown")
        if await handler(services, item.key):
            queue.done(item)
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
    """The worker: start the due items (up to `_PARALLEL` in flight), then wait until one
    ends, the next is due (at most a tick) or something is queued (`services.wake`)."""
    in_flight: dict[str, asyncio.Task[None]] = {}
    try:
        while True:
            _start_due(services, in_flight)
            services.wake.clear()
            woken = asyncio.ensure_future(services.wake.wait())
            try:
                await asyncio.wait(
                    [woken, *in_flight.values()],
                    timeout=_wait_s(services, in_flight),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                woken.cancel()
    finally:
        for task in in_flight.values():
            task.cancel()
        await asyncio.gather(*in_flight.values(), return_exceptions=True)


def _start_due(services: Services, in_flight: dict[str, asyncio.Task[None]]) -> None:
    free = _PARALLEL - len(in_flight)
    if free <= 0:
        return
    now = services.clock().timestamp()
    due = services.queue.due(now, _PARALLEL + len(in_flight))
    for item in [item for item in due if item.id not in in_flight][:free]:
        in_flight[item.id] = asyncio.ensure_future(_attempt(services, item))
        in_flight[item.id].add_done_callback(functools.partial(_landed, in_flight, item.id))


def _landed(in_flight: dict[str, asyncio.Task[None]], item_id: str, _: object) -> None:
    in_flight.pop(item_id, None)


def _wait_s(services: Services, in_flight: dict[str, asyncio.Task[None]]) -> float:
    """How long the worker may wait: until the next item not in flight is due, at most a
    tick; with every slot taken, until one ends (at most a tick)."""
    wait = services.settings.queue_tick_s
    if len(in_flight) >= _PARALLEL:
        return wait
    waiting = [
        item.due for item in services.queue.items() if not item.dead and item.id not in in_flight
    ]
    if waiting:
        wait = min(wait, max(0.0, min(waiting) - services.clock().timestamp()))
    return wait
