"""What a running node is made of, as one frozen value: `Node.start()` builds it.

Every field is there from the first request to the last, so no workflow asks "is the node
running?": a function that holds a `Services` holds a started node. Workflows take it (or
the parts they need); route modules reach it through `request.app[SERVICES]`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from badgechain.bns.dht import DhtNode, DhtSettings
from badgechain.bns.inbox_records import InboxRecords
from badgechain.bns.peer_boards import PeerBoards
from badgechain.bns.service import NameService
from badgechain.chain.keys import KeyPair
from badgechain.storage import Batch, LevelStore
from badgechain.storage.queue import WorkQueue

from .config import NodeConfig
from .nodelog import NodeLog
from .outbound import Outbound

__all__ = [
    "DELIVER_TOPIC",
    "Clock",
    "ListAllocation",
    "NodeSettings",
    "OpenList",
    "Retry",
    "Services",
    "StatusCache",
    "Tasks",
]

Clock = Callable[[], datetime]
DELIVER_TOPIC: Final = "deliver"  # the work queue's topic of deliveries (node/delivery.py)


@dataclass(frozen=True, slots=True)
class Retry:
    """How failed work is retried: waits doubling from `first_s` up to `max_s`; dead (left
    for the operator) after `max_attempts` failures."""

    first_s: float
    max_s: float
    max_attempts: int

    def delay(self, failures: int) -> float:
        """The wait after the `failures`-th failure in a row (1: the first)."""
        return float(min(self.max_s, self.first_s * 2 ** min(max(failures, 1) - 1, 30)))


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """The node's timing: how often it retries, how long it waits. Tests shorten them."""

    dht: DhtSettings = field(default_factory=DhtSettings)
    queue_retry_first_s: float = 2.0  # the first retry of queued work (node/work.py), then doubling
    stop_grace_s: float = 2.0  # how long stopping waits for cancelled tasks before cancelling again
    queue_tick_s: float = 1.0  # the longest the work queue's worker sleeps
    queue_retry_max_s: float = 30.0  # ...up to this (the pending-write retry period of old)
    queue_max_attempts: int = 30  # failures before an item is dead (left for the operator)
    delivery_retry_first_s: float = 1.0  # a failed delivery's first retry, then doubling...
    delivery_retry_max_s: float = 900.0  # ...up to this
    delivery_max_attempts: int = 1000  # ~10 days at the longest wait, then dead (operator)
    delivery_attempt_timeout_s: float = 20.0  # the DHT lookup of the inbox, then the POST
    delivery_post_timeout_s: float = 10.0  # the POST alone (node/delivery.py)
    announce_retry_max_s: float = 60.0  # the longest wait between inbox announcements
    request_timeout_s: float = 30.0  # a whole gateway request, network lookups included
    # The badge card asks the BNS whether its badge is revoked, but an image must not wait
    # on a slow DHT: past this, what the node itself knows is drawn (node/gateway.py)...
    card_lookup_timeout_s: float = 2.0
    card_answer_s: float = 60.0  # ...and reuses the answer this long (a revocation: for good)
    status_list_ttl_s: float = 3600.0  # how long a signed status list is valid (node/status.py)
    status_list_resign_left_s: float = 1800.0  # ...signed again when less than this is left
    # Verification (node/resolvers.py, node/fetchers.py; the CLI's verifier too).
    fetch_timeout_s: float = 5.0  # one HTTP fetch: a DID document, a status list, a badge
    resolver_call_timeout_s: float = 20.0  # one resolver call: a DHT lookup, or one fetch per URL
    status_cache_default_s: float = 300.0  # how long a list with neither ttl nor validUntil is kept
    # Courses (node/harvest*.py, node/webmention.py) and claims (node/claims.py, mail_claims.py).
    harvest_interval_s: float = 3600.0  # how often the work queue harvests each course's feeds
    feed_timeout_s: float = 15.0  # one feed, connect to last byte
    webmention_timeout_s: float = 10.0  # sending one Webmention, or fetching its source
    claim_timeout_s: float = 20.0  # a claim's or a resend's POST to the issuer's node
    # Peer boards (node/peers.py): a public gateway's announcement and GET /peers.
    peer_announce_every_s: float = 12 * 3600.0  # renewed this often, so its entry stays fresh
    peer_announce_retry_s: float = 60.0  # after a failed announcement (a first node alone)
    peer_lookup_timeout_s: float = 10.0  # one board's DHT lookup
    peers_answer_s: float = 60.0  # GET /peers answers again (and lets caches keep it) this long
    staple_reuse_s: float = 60.0  # a badge's staple is served again this long (node/holder.py)
    collection_revocation_check_s: float = 10.0  # a collection's BNS look at its badges
    smtp_timeout_s: float = 10.0  # each step of one SMTP exchange (node/mail.py)

    def retry(self, topic: str) -> Retry:
        """The retry policy of queued work of `topic`: an earner's node may be away for
        days, so deliveries wait longer and try for longer than the node's own work."""
        if topic == DELIVER_TOPIC:
            return Retry(
                self.delivery_retry_first_s, self.delivery_retry_max_s, self.delivery_max_attempts
            )
        return Retry(self.queue_retry_first_s, self.queue_retry_max_s, self.queue_max_attempts)


class Tasks:
    """The node's background tasks: each runs until it ends or the node stops."""

    def __init__(self, grace_s: float) -> None:
        self._tasks: set[asyncio.Task[object]] = set()
        self._grace_s = grace_s

    def spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel_all(self) -> None:
        """Cancel every task and wait for it to end. A task that swallowed its cancellation
        (a library racing a cancel with a result) and went on to wait is cancelled again."""
        while pending := [task for task in self._tasks if not task.done()]:
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=self._grace_s)


@dataclass(slots=True)
class OpenList:
    """The status list new badges draw their entries from."""

    list_id: str
    url: str
    taken: bytearray  # one bit per index: taken
    count: int  # how many are taken


@dataclass(slots=True)
class ListAllocation:
    """Which status list this node allocates entries in, read from storage when the node
    starts (node/status.py `load_allocation`); the lock keeps two changes of a list from
    interleaving."""

    current: OpenList | None = None  # None: this node has started no list yet
    lock: threading.RLock = field(default_factory=threading.RLock)


@dataclass(slots=True)
class StatusCache:
    """Verified status lists by URL, kept by node/resolvers.py until their freshness ends."""

    lists: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, eq=False)
class Services:
    """A started node: its identity, its settings and the services it runs."""

    home: Path
    key: KeyPair
    config: NodeConfig
    settings: NodeSettings
    clock: Clock
    store: LevelStore
    dht: DhtNode  # node/ workflows use the bns/ services, not this (tests/test_dht_access.py)
    names: NameService
    inboxes: InboxRecords  # earners' inbox announcements (node/delivery.py)
    peer_boards: PeerBoards  # gateways' peer boards (node/peers.py)
    log: NodeLog
    tasks: Tasks
    http_port: int  # the port the gateway listens on (picked by the system when 0 was asked)
    status_lists: ListAllocation  # node/status.py allocates entries here
    status_cache: StatusCache  # node/resolvers.py keeps verified lists here
    queue: WorkQueue  # durable background work (node/work.py runs it)
    wake: asyncio.Event  # set when work is queued, so the worker need not wait a tick

    def enqueue(
        self, topic: str, key: bytes, *, delay_s: float = 0.0, batch: Batch | None = None
    ) -> None:
        """Queue work for node/work.py, due `delay_s` from now (in `batch` when given)."""
        self.queue.put(topic, key, self.clock().timestamp() + delay_s, batch)
        self.wake.set()

    @property
    def did(self) -> str:
        return self.key.did

    @property
    def gateway_url(self) -> str:
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def outbound(self) -> Outbound:
        """The client for what the node fetches or posts on others' say-so."""
        return Outbound(self.config)

    @property
    def dht_address(self) -> tuple[str, int]:
        return self.dht.address

    def dht_health(self) -> dict[str, Any]:
        """The DHT node's contact count and counters, as `GET /health` reports them."""
        return {"contacts": self.dht.contact_count(), "dht": dict(self.dht.stats)}

    def spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        """Run `coro` in the background until it ends or the node stops."""
        self.tasks.spawn(coro)
