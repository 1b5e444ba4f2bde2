"""A DHT node's background work: liveness pings, bucket refresh, republishing, write
retries, and handing newcomers their values. The I/O of it: what to do is decided in
bns/routing.py, bns/upkeep.py and bns/replica.py.

Hand-over and republish read the store a page at a time and let the loop go after a few
milliseconds of work, and a hand-over keeps a bounded window of STOREs awaiting an answer,
so a node holding a million values neither blocks its loop nor queues a million requests.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from typing import Any, Final, Protocol

from badgechain.chain.errors import BadgeChainError
from badgechain.storage import Kind, Store

from .held import Holdings
from .in_flight import background
from .node_io import Endpoint, now
from .puzzle import ID_BYTES
from .routing import Contact, RoutingTable
from .settings import DhtSettings
from .upkeep import HandOvers, Pushes, StoreResult, liveness_due

__all__ = ["Rounds", "join_refresh_ids"]


class Worker(Protocol):
    """What the rounds need of their node (bns/dht.py's `DhtNode`)."""

    settings: DhtSettings
    protocol: Endpoint
    me: Contact
    store: Store
    holdings: Holdings
    seeds: list[tuple[str, int]]
    stats: Counter[str]

    @property
    def router(self) -> RoutingTable: ...
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...
    def contacts(self) -> list[Contact]: ...
    def save_contacts(self) -> None: ...
    async def bootstrap(self, addresses: Iterable[tuple[str, int]] = ()) -> int: ...
    async def find_closest(self, address: bytes) -> list[Contact]: ...
    async def lookup(
        self, address: bytes, want: int, *, find_value: bool
    ) -> tuple[list[Contact], list[tuple[Contact, Any]]]: ...
    async def store_value(self, value: bytes) -> StoreResult: ...


log = logging.getLogger(__name__)

_HAND_OVER_WINDOW: Final = 8  # STOREs to one newcomer awaiting an answer at once
_SCAN_PAGE: Final = 256  # values read from the store at once
_SCAN_SLICE_S: Final = 0.005  # seconds of work on scanned values before the loop is let go


def join_refresh_ids(me: bytes, nearest: bytes, limit: int, rng: random.Random) -> list[bytes]:
    """A random id for each prefix length shorter than the one `me` shares with `nearest`,
    the longest first, at most `limit`: the id space's slices farther than the nearest node,
    whose buckets a newcomer knows least (Kademlia §2.3)."""
    bits = ID_BYTES * 8
    mine = int.from_bytes(me, "big")
    shared = bits - (mine ^ int.from_bytes(nearest, "big")).bit_length()
    ids = []
    for prefix in range(shared - 1, max(shared - limit, 0) - 1, -1):
        flip = 1 << (bits - 1 - prefix)  # the first bit that differs: distance in [flip, 2 flip)
        ids.append((mine ^ (flip | rng.randrange(flip))).to_bytes(ID_BYTES, "big"))
    return ids


def _shared_bits(a: bytes, b: bytes) -> int:
    return ID_BYTES * 8 - (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_length()


class Rounds:
    def __init__(self, node: Worker) -> None:
        self.node = node
        self.pushes = Pushes()  # held values a peer pushed here unchanged
        self.unfinished: set[bytes] = set()  # addresses of writes short of `write_quorum`
        self._saved_ids: frozenset[bytes] = frozenset()
        # Refresh ids need no secrecy; seeded by the id, a simulated run repeats exactly.
        self._rng = random.Random(node.me.id)  # noqa: S311

    def start(self) -> None:
        settings, spawn = self.node.settings, self.node.spawn
        spawn(self._every(settings.liveness_interval, self.check_liveness))
        spawn(self._every(settings.republish_interval, self._republish_round))
        spawn(self._every(settings.refresh_interval, self.refresh_buckets))
        spawn(self._every(settings.write_retry_interval, self.finish_writes))
        spawn(self.node.holdings.count())

    async def _every(self, interval: float, work: Callable[[], Awaitable[object]]) -> None:
        while True:
            # Jitter keeps a network of nodes started together from acting in lockstep.
            await asyncio.sleep(interval * random.uniform(0.8, 1.2))  # noqa: S311
            try:
                with background():  # user lookups keep half the requests in flight
                    await work()
            except asyncio.CancelledError:
                raise
            except Exception:  # a background round must never stop the node
                log.exception("background %s failed", getattr(work, "__name__", work))

    # --- the routing table ------------------------------------------------------------------

    async def check_liveness(self) -> None:
        """Ping the contacts heard from least recently, so user lookups meet fewer dead ones.

        Also saves the contacts whenever they changed: a node killed without a clean stop
        must still find its way back into the network when it restarts.
        """
        node = self.node
        known = frozenset(c.id for c in node.contacts())
        if known and known != self._saved_ids:
            node.save_contacts()
            self._saved_ids = known
        if not known and node.seeds:
            await node.bootstrap()  # everyone looked dead: start over from the seeds
            return
        settings = node.settings
        quiet = max(settings.liveness_quiet, settings.liveness_interval * 2)
        due = liveness_due(node.router, now(), quiet, settings.liveness_batch)
        node.stats["liveness_pings"] += len(due)
        await asyncio.gather(*(node.protocol.request(c, "ping") for c in due))

    async def refresh_after_join(self) -> int:
        """Look up an id in each slice farther than the nearest contact, at once; return how
        many lookups ran (Kademlia's join, bounded by `join_refreshes`).

        A slice where this node already knows k contacts is skipped, and each lookup stops
        at the `alpha` nearest that answer: the point is a contact or more in every slice,
        and a join of many nodes at once must not cost each of them k lookups' requests.
        """
        node = self.node
        settings = node.settings
        nearest = node.router.neighbours(node.me.id, 1)
        if not nearest:
            return 0
        ids = join_refresh_ids(node.me.id, nearest[0].id, settings.join_refreshes, self._rng)
        known = Counter(_shared_bits(node.me.id, c.id) for c in node.contacts())
        ids = [i for i in ids if known[_shared_bits(node.me.id, i)] < settings.ksize]
        await asyncio.gather(*(node.lookup(i, settings.alpha, find_value=False) for i in ids))
        return len(ids)

    async def refresh_buckets(self) -> None:
        """Look up a random id in each bucket not used lately (Kademlia §2.3)."""
        for node_id in self.node.router.refresh_ids(now(), self._rng):
            await self.node.find_closest(node_id)

    # --- writes and held values -------------------------------------------------------------

    async def finish_writes(self) -> int:
        """Push again every write not yet done; return how many are still short of a quorum."""
        node = self.node
        for address in list(self.unfinished):
            value = node.store.get(Kind.PUBLISHED, address)
            if value is None:
                self.unfinished.discard(address)
                continue
            try:
                result = await node.store_value(value)
            except BadgeChainError as exc:
                log.info("writing %s again failed: %s", address.hex()[:12], exc.code)
                continue
            if result.done:
                self.unfinished.discard(address)
        return len(self.unfinished)

    async def republish_once(self, skip_replicated: bool = False) -> int:
        """Push every value written or held here to its current k closest nodes.

        Writers' republishing keeps a value alive after all its replicas left; holders'
        re-replication hands values to nodes that became close since. Returns the count.
        With `skip_replicated` (the background rounds), a held value that a peer pushed here,
        unchanged, during the last round is skipped (bns/upkeep.py, `Pushes`).
        """
        recent = self.pushes.recent(now(), self.node.settings.republish_interval)
        count = 0
        for kind in (Kind.PUBLISHED, Kind.BNS_RECORD):
            async for address, value in self.scan(kind):
                if kind is Kind.BNS_RECORD and skip_replicated and address in recent:
                    continue
                count += await self._republish_one(address, value)
        return count

    async def _republish_one(self, address: bytes, value: bytes) -> int:
        try:
            await self.node.store_value(value)
        except BadgeChainError as exc:
            log.info("republishing %s failed: %s", address.hex()[:12], exc.code)
            return 0
        return 1

    async def _republish_round(self) -> int:
        return await self.republish_once(skip_replicated=True)

    async def hand_over(self, newcomer: Contact) -> None:
        """Send a new contact the values it is now among the closest to (Kademlia §2.5)."""
        node = self.node
        window = asyncio.Semaphore(_HAND_OVER_WINDOW)

        async def send(address: bytes, value: bytes) -> None:
            try:
                await node.protocol.request(newcomer, "store", address, value)
            finally:
                window.release()

        due = HandOvers(node.router, node.me, newcomer, node.settings.hand_over_senders)
        with background():  # the sends, spawned here, are background work too
            async for address, value in self.scan(Kind.BNS_RECORD):
                if due(address):
                    await window.acquire()
                    node.spawn(send(address, value))

    async def scan(self, kind: Kind) -> AsyncIterator[tuple[bytes, bytes]]:
        """Everything of `kind` in the store, a page at a time with the loop let go between.

        A page is a bounded read, and the next one starts after the last key seen, so
        writes meanwhile are safe.
        """
        after: bytes | None = None
        slice_started = time.perf_counter()
        while True:
            page = list(self.node.store.scan(kind, start_after=after, limit=_SCAN_PAGE))
            for item in page:
                yield item  # the caller's work on it runs before this generator resumes
                if time.perf_counter() - slice_started > _SCAN_SLICE_S:
                    await asyncio.sleep(0)
                    slice_started = time.perf_counter()
            if len(page) < _SCAN_PAGE:
                return
            after = page[-1][0]
