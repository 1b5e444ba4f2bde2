"""Publishing many badges of one issuer at once: what a batch of a thousand rows needs.

`NameService.publish` costs each badge its entry write, then for each of its two indexes a
read of the first open page, a write and a read-back, one after the other. Here the entries
go out with many writes in flight (bounded), and each index is filled a window of pages at
a time: the pages read together, many items added to each, written together, read back
together. Same records, same pages, same journal bookkeeping (`reconcile_indexes` checks the
placements written here as it checks its own).

Index writes of sets sharing an `index_lock` are coalesced: whoever holds the lock indexes
every set waiting for it in one go (one window of pages, the same few round trips), so
chunks queued behind a slow window cost no extra rounds.

Fewer requests a badge: on a network smaller than a replica set, one lookup serves a whole
burst of writes (`_Replicas`); a page that every replica took is not read back (its
placement is journaled, and `reconcile_indexes` checks it as it checks every placement).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Final

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import KeyPair, PublicKey
from badgechain.chain.resolve import Unreachable
from badgechain.storage import Kind

from .dht import Contact, DhtNode, StoreResult
from .errors import RecordError
from .index import (
    EarnerPage,
    IssuerPage,
    add_many_to_page,
    make_earner_item,
    make_issuer_item,
    page_is_full,
    page_room,
)
from .index_walk import first_open_page
from .record import Entry, Record, Uid

# The journal keys NameService keeps its index bookkeeping under (bns/service.py): the
# same keys, so each reads what the other wrote.
from .service import _EARNER_INDEX, _ISSUER_INDEX, _NEXT_PAGE, _PLACED, NameService
from .writes import require_accepted

__all__ = ["MAX_IN_FLIGHT", "MAX_PAGE_WINDOW", "publish_many"]

MAX_IN_FLIGHT: Final = 32  # DHT writes (or page jobs) at once: a burst must not drown peers
MAX_PAGE_WINDOW: Final = 32  # index pages of one owner read, written and read back together
_ROUNDS: Final = 8  # windows an index may take beyond those it needs before giving up
_ATTEMPTS: Final = 3  # tries of what found no peer answering (Unreachable), waits growing:
_RETRY_S: Final = 0.5  # 0.5 s, then 1 s; what still fails is left to the caller's queue

_Page = IssuerPage | EarnerPage


@dataclass(frozen=True, slots=True)
class _IndexJob:
    """One caller's entries waiting to be indexed, and where their outcome goes."""

    entries: list[Entry]
    outcome: asyncio.Future[dict[Uid, BadgeChainError]]


# The jobs waiting for each shared index lock; the lock's holder takes them all.
_WAITING: weakref.WeakKeyDictionary[asyncio.Lock, list[_IndexJob]] = weakref.WeakKeyDictionary()


async def publish_many(
    names: NameService,
    issuer: KeyPair,
    entries: Sequence[Entry],
    *,
    in_flight: int = MAX_IN_FLIGHT,
    index_lock: asyncio.Lock | None = None,
) -> dict[Uid, BadgeChainError]:
    """Publish `issuer`'s entries and add each to its issuer's and earner's index. Returns
    the entries that are not out or not indexed, with why (a caller tries those again one at
    a time); every other entry is published exactly as `NameService.publish` would have.

    Callers publishing several sets at once share an `index_lock`: their entries go out
    together, their index writes one set after the other (they would fill the same pages)."""
    limit = asyncio.Semaphore(in_flight)
    failed: dict[Uid, BadgeChainError] = {}
    replicas = _Replicas(names.dht)

    async def put_record(entry: Entry) -> None:
        try:
            value = Record(entry).to_wire_bytes()
            require_accepted(await replicas.publish(value), "entry")
        except BadgeChainError as exc:
            failed[entry.uid] = exc
        else:
            failed.pop(entry.uid, None)

    await _bounded(limit, [put_record(entry) for entry in entries])
    for attempt in range(1, _ATTEMPTS):  # a burst can outrun the peers: again, a bit later
        unreached = [entry for entry in entries if isinstance(failed.get(entry.uid), Unreachable)]
        if not unreached:
            break
        await asyncio.sleep(_RETRY_S * attempt)
        await _bounded(limit, [put_record(entry) for entry in unreached])
    stored = [entry for entry in entries if entry.uid not in failed]
    if index_lock is None:
        failed.update(await _index(names, limit, issuer, stored))
        return failed
    job = _IndexJob(stored, asyncio.get_running_loop().create_future())
    _WAITING.setdefault(index_lock, []).append(job)
    async with index_lock:
        if not job.outcome.done():  # nobody took it while we waited: take every one waiting
            await _index_waiting(names, limit, issuer, _WAITING.pop(index_lock, []), index_lock)
    failed.update(job.outcome.result())
    return failed


async def _index_waiting(
    names: NameService,
    limit: asyncio.Semaphore,
    issuer: KeyPair,
    jobs: list[_IndexJob],
    lock: asyncio.Lock,
) -> None:
    """Index the entries of every job in one go and hand each its own outcome. Interrupted
    (the batch stopping), the other jobs wait again for the lock's next holder."""
    try:
        failed = await _index(names, limit, issuer, [e for job in jobs for e in job.entries])
    except BaseException:
        left = [job for job in jobs if not job.outcome.done()]
        _WAITING.setdefault(lock, []).extend(left)
        raise
    for job in jobs:
        mine = {entry.uid: failed[entry.uid] for entry in job.entries if entry.uid in failed}
        job.outcome.set_result(mine)


async def _index(
    names: NameService, limit: asyncio.Semaphore, issuer: KeyPair, stored: Sequence[Entry]
) -> dict[Uid, BadgeChainError]:
    """Add `stored` to the issuer's index and to those earner indexes this node writes."""
    by_earner: dict[PublicKey, list[Entry]] = {}
    for entry in stored:
        if entry.earner_key == issuer.public_key:  # other earners index their own (accept)
            by_earner.setdefault(entry.earner_key, []).append(entry)
    replicas = _Replicas(names.dht)
    jobs = [_Indexer(names, limit, replicas, _ISSUER_INDEX, issuer.public_key).add(stored, issuer)]
    jobs += [
        _Indexer(names, limit, replicas, _EARNER_INDEX, earner).add(group, issuer)
        for earner, group in by_earner.items()
    ]
    failed: dict[Uid, BadgeChainError] = {}
    for outcome in await asyncio.gather(*jobs):
        failed.update(outcome)
    return failed


async def _bounded(limit: asyncio.Semaphore, jobs: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    async def one(job: Coroutine[Any, Any, Any]) -> Any:
        async with limit:
            return await job

    return list(await asyncio.gather(*(one(job) for job in jobs)))


class _Indexer:
    """Adds many entries to one owner's index (issuer or earner), a window of pages at a time."""

    def __init__(
        self,
        names: NameService,
        limit: asyncio.Semaphore,
        replicas: _Replicas,
        index: bytes,
        owner: PublicKey,
    ) -> None:
        self.names, self.limit, self.index, self.owner = names, limit, index, owner
        self.replicas = replicas
        self.hint_key = _NEXT_PAGE + index + owner
        self.reader: Callable[[PublicKey, int], Awaitable[Any]] = (
            names.issuer_page if index == _ISSUER_INDEX else names.earner_page
        )

    def read(self, number: int) -> Awaitable[_Page]:
        return self.reader(self.owner, number)

    def item_for(self, issuer: KeyPair, number: int, entry: Entry) -> Any:
        if self.index == _ISSUER_INDEX:
            return make_issuer_item(issuer, number, entry.uid)
        return make_earner_item(issuer, number, entry)

    async def add(self, entries: Sequence[Entry], issuer: KeyPair) -> dict[Uid, BadgeChainError]:
        """Place every entry; return those it could not place, with why. An entry this node
        placed before (a retry after a crash) is left where it is: `reconcile_indexes`
        checks it there, and moves it should it have been pushed out."""
        store = self.names.store
        placed = _PLACED + self.index
        pending = {
            entry.uid: entry
            for entry in entries
            if store.get(Kind.JOURNAL, placed + entry.uid) is None
        }
        start = int.from_bytes(store.get(Kind.JOURNAL, self.hint_key) or bytes(8), "big")
        capacity = IssuerPage.CAPACITY if self.index == _ISSUER_INDEX else EarnerPage.CAPACITY
        needed = -(-len(pending) // capacity)
        rounds = needed // MAX_PAGE_WINDOW + _ROUNDS
        error: BadgeChainError = RecordError(
            "the index kept refusing the items", code="index_contended"
        )
        unreached = 0
        while pending and rounds:
            rounds -= 1
            try:
                start = await self._window(pending, issuer, start)
            except Unreachable as exc:  # a burst can outrun the peers: again, a bit later
                error, unreached = exc, unreached + 1
                if unreached == _ATTEMPTS:
                    break
                await asyncio.sleep(_RETRY_S * unreached)
            except BadgeChainError as exc:
                return dict.fromkeys(pending, exc)
        return dict.fromkeys(pending, error)

    async def _window(self, pending: dict[Uid, Entry], issuer: KeyPair, start: int) -> int:
        """One round: read the window at `start` (searching on when it is full), fill its
        pages, write them together and read them back. Placed entries leave `pending`;
        returns the next start."""
        first = next(iter(pending))
        # Read the window at `start` at once (it is usually the first open page: the hint
        # points past the pages filled before); search only when `start` is full.
        capacity = IssuerPage.CAPACITY if self.index == _ISSUER_INDEX else EarnerPage.CAPACITY
        guess = min(MAX_PAGE_WINDOW, -(-len(pending) // capacity))
        pages = await self._gather([self.read(start + n) for n in range(guess)])
        number, page = start, pages[0]
        if page_is_full(page) and all(item.uid != first for item in page.members):
            number, page = await first_open_page(self.reader, self.owner, start, first)
            pages = [page]
        spill = max(0, len(pending) - page_room(page))
        count = min(MAX_PAGE_WINDOW, 1 + -(-spill // page.CAPACITY))
        if number != start:
            pages = [page]
        pages = pages[:count]
        pages += await self._gather([self.read(number + n) for n in range(len(pages), count)])
        writes: list[tuple[int, _Page, list[Uid]]] = []
        placed: list[tuple[int, Entry]] = []
        left = list(pending)
        for page_number, held in enumerate(pages, start=number):
            present = {item.uid for item in held.members}
            placed += [(page_number, pending.pop(uid)) for uid in left if uid in present]
            left = [uid for uid in left if uid not in present]
            take, left = left[: page_room(held)], left[page_room(held) :]
            if take:
                items = [self.item_for(issuer, page_number, pending[uid]) for uid in take]
                writes.append((page_number, add_many_to_page(held, items), take))
        values = [updated.to_wire_bytes() for _, updated, _ in writes]
        results = await self._gather([self.replicas.publish(value) for value in values])
        written: list[tuple[int, list[Uid]]] = []
        doubtful: list[tuple[int, list[Uid]]] = []
        for (page_number, _, take), result in zip(writes, results, strict=True):
            if result.accepted == 0 and set(result.refused) == {"stale"}:
                continue  # other writers filled the page since it was read: the next round
            require_accepted(result, "index page")
            written.append((page_number, take))
            if result.refused or result.unanswered:
                doubtful.append((page_number, take))
            else:  # every replica took the page: placed (`reconcile_indexes` still checks it)
                placed += [(page_number, pending.pop(uid)) for uid in take]
        backs = await self._gather([self.read(page_number) for page_number, _ in doubtful])
        for (page_number, take), back in zip(doubtful, backs, strict=True):
            kept = {item.uid for item in back.members}  # a merge may have left some out
            placed += [(page_number, pending.pop(uid)) for uid in take if uid in kept]
        last = written[-1][0] if written else None
        if last is not None and len(written[-1][1]) >= page_room(pages[last - number]):
            last += 1  # filled it: the next window starts on the page after
        self._note(placed, last)
        if last is None:
            return number + 1 if writes else number
        return last

    async def _gather(self, jobs: list[Awaitable[Any]]) -> list[Any]:
        return await _bounded(self.limit, [_awaited(job) for job in jobs])

    def _note(self, placed: list[tuple[int, Entry]], last: int | None) -> None:
        """Note in one write where each entry went, for `reconcile_indexes` to check later,
        and the last page written, where the next search starts."""
        with self.names.store.batch() as batch:
            for page_number, entry in placed:
                placement = page_number.to_bytes(8, "big") + entry.to_wire_bytes()
                batch.put(Kind.JOURNAL, _PLACED + self.index + entry.uid, placement)
            if last is not None:
                batch.put(Kind.JOURNAL, self.hint_key, last.to_bytes(8, "big"))


async def _awaited(job: Awaitable[Any]) -> Any:
    return await job


class _Replicas:
    """Where a burst of writes goes. In a network smaller than a replica set (the lookup found
    fewer than k nodes, and this node knows of no other) every address has the same replicas,
    so one lookup serves the whole burst; otherwise each write finds its own, as
    `DhtNode.publish` does."""

    def __init__(self, dht: DhtNode) -> None:
        self.dht = dht
        self._lock = asyncio.Lock()
        self._looked = False
        self._everyone: list[Contact] | None = None

    async def publish(self, value: bytes) -> StoreResult:
        """`DhtNode.publish`, with the replicas found once when they are everyone's."""
        address = self.dht.policy.address_of(value)
        return await self.dht.publish(value, await self.of(address))

    async def of(self, address: bytes) -> list[Contact] | None:
        """The replicas of `address`, nearest first; None: its write finds them itself."""
        async with self._lock:  # the first write looks; those behind it wait for the answer
            if not self._looked:
                self._everyone = _whole_network(self.dht, await self.dht.find_replicas(address))
                self._looked = True
        if self._everyone is None:
            return None
        target = int.from_bytes(address, "big")
        return sorted(self._everyone, key=lambda contact: contact.number ^ target)


def _whole_network(dht: DhtNode, found: list[Contact]) -> list[Contact] | None:
    """`found` when it is every node there is as far as this node knows: fewer than a replica
    set, and no contact of the routing table left out (a lookup keeps at most a few nodes of
    one host, so it can miss nodes it knows)."""
    ids = {contact.id for contact in found}
    if not found or len(found) >= dht.settings.ksize:
        return None
    if any(contact.id not in ids for contact in dht.contacts()):
        return None
    return found
