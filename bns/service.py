"""The Badge Name Server as a node uses it: publish, locate, hide, revoke, resolve, list.

This is the edge where the pure records (record.py, index.py) meet the network (dht.py):
each call builds or merges signed parts, stores them through the DHT, and says plainly
what happened — a record, `NotFound` when the network answered without one, `Unreachable`
when nobody answered, or a RecordError naming why every replica refused a write.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import KeyPair, PublicKey
from badgechain.chain.uid import uid_text
from badgechain.storage import Kind, Store

from .dht import DhtNode, StoreResult
from .errors import NotFound, RecordError
from .index import (
    EarnerPage,
    IssuerPage,
    add_to_page,
    earner_page_key,
    issuer_page_key,
    make_earner_item,
    make_issuer_item,
)
from .index_walk import first_open_page, walk_pages
from .record import (
    DhtKey,
    Entry,
    Record,
    Uid,
    check_location_update,
    derive_dht_key,
    location_writer,
    make_location,
    make_revocation,
    merge,
)
from .values import address_of_key
from .writes import Writes, require_accepted

__all__ = ["ANSWER_TTL_S", "MAX_ANSWERS", "MAX_REVOKED", "NameService", "PublishResult"]

# How long a resolved record answers again without a DHT lookup. Short, because a record
# changes elsewhere (a move, a revocation) and this node may not be one of its replicas; a
# change that reaches this node's own copy is seen at once (see `_answer`).
ANSWER_TTL_S: Final = 2.0
MAX_ANSWERS: Final = 4096  # records kept for ANSWER_TTL_S (oldest out)
# UIDs this node has seen revoked, kept much longer than answers: a revocation is permanent,
# so no later answer that lacks it (a replica behind, an eclipsing peer) is ever believed.
MAX_REVOKED: Final = 32_768

_Page = TypeVar("_Page", IssuerPage, EarnerPage)
# Bookkeeping keys in the node's journal: the next free index page per owner, and the last
# location seq this node signed per UID (so two quick moves never reuse a seq).
_NEXT_PAGE = b"bns/next-page/"
_LAST_SEQ = b"bns/last-seq/"
_INDEX_ATTEMPTS = 8
# Placements awaiting a check by `reconcile_indexes`: key _PLACED ‖ index ‖ UID.
_PLACED = b"bns/placed/"
_ISSUER_INDEX, _EARNER_INDEX = b"i", b"e"


@dataclass(frozen=True, slots=True)
class PublishResult:
    record: StoreResult
    issuer_page: int
    earner_page: int | None  # None when the badge names no earner key


@dataclass(frozen=True, slots=True)
class _Answer:
    record: Record
    held: bytes | None  # this node's own copy of the value when the answer was made
    until: float  # on the service's clock


class NameService:
    """BNS operations over one DHT node; `store` keeps this node's bookkeeping.

    `clock` (seconds, monotonic) times the answer cache; tests pass a fake one.
    """

    def __init__(
        self,
        dht: DhtNode,
        store: Store,
        *,
        answer_ttl_s: float = ANSWER_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dht = dht
        self.store = store
        self.answer_ttl_s = answer_ttl_s
        self.clock = clock
        # Readers of one UID at the same moment share one lookup: a burst of verifications
        # of one badge costs the DHT one lookup, not one each.
        self._in_flight: dict[Uid, asyncio.Future[Record]] = {}
        self._answers: OrderedDict[Uid, _Answer] = OrderedDict()
        self._revoked: OrderedDict[Uid, Record] = OrderedDict()
        self.writes = Writes(dht)  # how far this node's moves and revocations reached

    # --- reading ----------------------------------------------------------------------------

    async def resolve(self, uid: Uid) -> Record:
        """The merged, validated record of `uid`; `NotFound` or `Unreachable` otherwise.

        A record resolved less than `answer_ttl_s` ago answers again without a lookup.
        """
        answer = self._answer(uid)
        if answer is not None:
            return answer
        lookup = self._in_flight.get(uid)
        if lookup is None:
            lookup = asyncio.ensure_future(self._lookup(uid))
            self._in_flight[uid] = lookup
            lookup.add_done_callback(lambda done: self._lookup_done(uid, done))
        # Shielded: one reader giving up does not cancel the lookup the others wait for.
        return await asyncio.shield(lookup)

    def _lookup_done(self, uid: Uid, done: asyncio.Future[Record]) -> None:
        self._in_flight.pop(uid, None)
        if not done.cancelled():
            done.exception()  # retrieved: every reader may have stopped waiting

    async def _lookup(self, uid: Uid) -> Record:
        """A DHT lookup (the merge of the replicas' answers, validated by the DHT)."""
        address = address_of_key(derive_dht_key(uid))
        held = self.dht.held(address)  # read first: a STORE during the lookup is seen later
        result = await self.dht.fetch(address)
        if result.value is None:
            raise NotFound(f"no BNS record for UID {uid_text(uid)}")  # as the user wrote it
        return self._remember(Record.from_wire_bytes(result.value), held)

    def _answer(self, uid: Uid) -> Record | None:
        """The cached record of `uid` while fresh, with whatever reached this node's own copy
        since (a replica is sent every write: a revocation shows at once, not after the TTL)."""
        answer = self._answers.get(uid)
        if answer is None:
            return None
        if self.clock() >= answer.until:
            del self._answers[uid]
            return None
        held = self.dht.held(address_of_key(derive_dht_key(uid)))
        if held == answer.held or held is None:
            return answer.record
        # The copy held here was validated when it was stored: a merge needs no checking.
        try:
            record = merge(answer.record, Record.from_wire_bytes(held))
        except BadgeChainError:  # a conflicting entry held here: the network decides
            del self._answers[uid]
            return None
        return self._remember(record, held, answer.until)

    def _remember(self, record: Record, held: bytes | None, until: float | None = None) -> Record:
        """Cache `record` as the answer about its UID, merged with what was seen before: the
        BNS only grows (a location's seq rises, a revocation stays), so no answer goes back."""
        uid = record.entry.uid
        for seen in (self._answers.get(uid), self._revoked.get(uid)):
            known = seen.record if isinstance(seen, _Answer) else seen
            if known is not None and known.entry == record.entry:
                record = merge(known, record)
        if record.revocation is not None:
            self._keep(self._revoked, uid, record, MAX_REVOKED)
        if until is None:
            until = self.clock() + self.answer_ttl_s
        self._keep(self._answers, uid, _Answer(record, held, until), MAX_ANSWERS)
        return record

    @staticmethod
    def _keep(cache: OrderedDict[Uid, Any], uid: Uid, value: Any, limit: int) -> None:
        cache[uid] = value
        cache.move_to_end(uid)
        while len(cache) > limit:
            cache.popitem(last=False)

    def _wrote(self, record: Record) -> Record:
        """A write of this node's: its readers see it at once."""
        answer = self._answers.get(record.entry.uid)
        if answer is None:
            return self._remember(record, None)
        return self._remember(record, answer.held, answer.until)

    def holds_issuer_index(self, issuer_key: PublicKey) -> bool:
        """Whether this node stores the first page of the issuer's index (as a replica)."""
        return self.dht.held(address_of_key(issuer_page_key(issuer_key, 0))) is not None

    async def issuer_page(self, issuer_key: PublicKey, page: int) -> IssuerPage:
        """Page `page` of the issuer's index (empty when nobody holds it)."""
        return await self._page(IssuerPage, issuer_page_key(issuer_key, page), issuer_key, page)

    async def earner_page(self, earner_key: PublicKey, page: int) -> EarnerPage:
        """Page `page` of the earner's index (empty when nobody holds it)."""
        return await self._page(EarnerPage, earner_page_key(earner_key, page), earner_key, page)

    async def _page(self, kind: type[_Page], key: DhtKey, owner: PublicKey, page: int) -> _Page:
        result = await self.dht.fetch(address_of_key(key))
        if result.value is None:
            return kind(owner, page)
        return kind.from_wire_bytes(result.value)

    async def list_by_issuer(self, issuer_key: PublicKey, limit: int = 10_000) -> list[Uid]:
        """UIDs in the issuer's index, page after page until an empty one."""
        pages = await walk_pages(self.issuer_page, issuer_key, limit)
        return [item.uid for page in pages for item in page.items][:limit]

    async def list_by_earner(self, earner_key: PublicKey, limit: int = 10_000) -> list[Entry]:
        """Entries naming the earner, page after page until an empty one."""
        pages = await walk_pages(self.earner_page, earner_key, limit)
        return [entry for page in pages for entry in page.entries][:limit]

    # --- writing ----------------------------------------------------------------------------

    async def publish(self, issuer: KeyPair, entry: Entry) -> PublishResult:
        """Publish a badge's entry, then add it to its issuer's index (and to its earner's
        when the issuer is the earner: any other earner writes its own, on accept)."""
        record = require_accepted(await self.dht.publish(Record(entry).to_wire_bytes()), "entry")
        issuer_page = await self._index_for_issuer(issuer, entry, 0)
        earner_page = None
        if entry.earner_key == issuer.public_key:
            earner_page = await self._index_for_earner(issuer, entry, 0)
        return PublishResult(record, issuer_page, earner_page)

    async def _index_for_issuer(self, issuer: KeyPair, entry: Entry, start: int) -> int:
        return await self._add_to_index(
            _ISSUER_INDEX,
            entry,
            issuer.public_key,
            start,
            lambda page: make_issuer_item(issuer, page, entry.uid),
        )

    async def _index_for_earner(
        self, earner: KeyPair, entry: Entry, start: int, seq: int = 0
    ) -> int:
        if entry.earner_key != earner.public_key:  # None too: the entry names no earner
            raise RecordError("only its earner indexes a badge", code="index_wrong_writer")
        return await self._add_to_index(
            _EARNER_INDEX,
            entry,
            earner.public_key,
            start,
            lambda page: make_earner_item(earner, page, entry, seq=seq),
        )

    def _reader(self, index: bytes) -> Callable[[PublicKey, int], Awaitable[Any]]:
        return self.issuer_page if index == _ISSUER_INDEX else self.earner_page

    async def reconcile_indexes(self, issuer: KeyPair) -> int:
        """Put back the index items of `issuer`'s badges that concurrent writers pushed out.

        Two writers filling the last places of one page at once both succeed, and the merge
        then keeps the smallest UIDs, so an item can vanish after its writer read it back.
        The node calls this in its republish round: every placement not yet seen settled
        is checked, and a missing item goes to a later page. Returns how many moved.
        """
        moved = 0
        placements = list(self.store.scan(Kind.JOURNAL, _PLACED))
        pages: dict[tuple[bytes, int], Any] = {}  # each page read once a round (a batch
        settled: list[bytes] = []  # placed 8 items a page), the settled cleared in one write
        try:
            for key, value in placements:
                index = key[len(_PLACED) : len(_PLACED) + 1]
                page = int.from_bytes(value[:8], "big")
                entry = Entry.from_wire_bytes(value[8:])
                writer = entry.issuer_key if index == _ISSUER_INDEX else entry.earner_key
                if writer != issuer.public_key:
                    continue  # `issuer` is this node's key: the earner index is its earner's
                if (index, page) not in pages:  # the writer owns the index it writes
                    pages[index, page] = await self._reader(index)(issuer.public_key, page)
                if any(member.uid == entry.uid for member in pages[index, page].members):
                    settled.append(key)
                    continue
                if index == _ISSUER_INDEX:
                    await self._index_for_issuer(issuer, entry, page + 1)
                else:
                    await self._index_for_earner(issuer, entry, page + 1)
                moved += 1
        finally:
            with self.store.batch() as batch:
                for key in settled:
                    batch.delete(Kind.JOURNAL, key)
        return moved

    async def _add_to_index(
        self,
        index: bytes,
        entry: Entry,
        owner: PublicKey,
        start: int,
        item_for: Callable[[int], Any],  # the item for a page number (items are signed for it)
    ) -> int:
        """Add an item to the first page of `owner`'s index with room; return its number.

        Pages fill in order, so "page n is full" is monotone in n: from the page this node
        last wrote, gallop forward then bisect, which costs O(log pages) fetches even when
        other writers filled pages meanwhile (an earner's index has many writers).
        """
        read, uid = self._reader(index), entry.uid
        hint_key = _NEXT_PAGE + index + owner
        hint = int.from_bytes(self.store.get(Kind.JOURNAL, hint_key) or bytes(8), "big")
        start = max(start, hint)
        for _ in range(_INDEX_ATTEMPTS):
            number, page = await first_open_page(read, owner, start, uid)
            updated = add_to_page(page, item_for(number))
            result = await self.dht.publish(updated.to_wire_bytes())
            start = number + 1
            if result.accepted == 0 and set(result.refused) == {"stale"}:
                continue  # other writers filled the page since it was read: try the next
            require_accepted(result, "index page")
            self.store.put(Kind.JOURNAL, hint_key, number.to_bytes(8, "big"))
            # Read back, and move on if this item was the one the merge left out.
            if any(member.uid == uid for member in (await read(owner, number)).members):
                placement = number.to_bytes(8, "big") + entry.to_wire_bytes()
                self.store.put(Kind.JOURNAL, _PLACED + index + uid, placement)
                return number
        raise RecordError("the index kept refusing the item", code="index_contended")

    async def set_location(self, writer: KeyPair, uid: Uid, urls: Sequence[str]) -> Record:
        """Sign and publish where the badge can be fetched; `writer` must be its earner.

        The seq is above both what the network holds and what this node signed before.
        """
        current = await self._lookup(uid)
        if writer.public_key != location_writer(current):
            raise RecordError(
                "only the badge's earner key can set its location", code="not_location_writer"
            )
        held_seq = current.location.seq if current.location else 0
        seq_key = _LAST_SEQ + uid
        signed_seq = int.from_bytes(self.store.get(Kind.JOURNAL, seq_key) or bytes(8), "big")
        location = make_location(writer, uid, tuple(urls), max(held_seq, signed_seq) + 1)
        check_location_update(current, location)
        self.store.put(Kind.JOURNAL, seq_key, location.seq.to_bytes(8, "big"))
        record = Record(current.entry, location, current.revocation, current.handover)
        require_accepted(await self.writes.publish(uid, record.to_wire_bytes()), "location")
        return self._wrote(record)

    async def hide(self, writer: KeyPair, uid: Uid) -> Record:
        """Publish an empty location: the badge stays valid but says where to find it no more."""
        return await self.set_location(writer, uid, ())

    async def hand_over(self, record: Record) -> StoreResult:
        """Publish `record` carrying its issuer's signed hand-over (node/claims.py says what a
        refusal means); once a replica took it, this node's readers see it at once."""
        result = await self.dht.publish(record.to_wire_bytes())
        if result.accepted:
            try:
                self._wrote(record)
            except BadgeChainError:  # a conflicting answer cached here: look it up again
                self._answers.pop(record.entry.uid, None)
        return result

    async def revoke(self, issuer: KeyPair, uid: Uid, reason: str, revoked_at: int) -> Record:
        """Publish the issuer's revocation; once seen, no replica ever forgets it."""
        current = await self._lookup(uid)
        if issuer.public_key != current.entry.issuer_key:
            raise RecordError("only the badge's issuer can revoke it", code="not_issuer")
        if current.revocation is not None:
            return current
        revocation = make_revocation(issuer, uid, reason, revoked_at)
        record = Record(current.entry, current.location, revocation, current.handover)
        require_accepted(await self.writes.publish(uid, record.to_wire_bytes()), "revocation")
        return self._wrote(record)
