"""The routing table: contacts in k-buckets, with liveness and a per-host limit. Pure.

A table is told what happened (a contact was heard from, a request to it failed) and the
time; it answers who is nearest an address, whom to ping, and which buckets went idle. The
caller does the I/O: when a full bucket keeps a newcomer as a spare, `add` returns the least
recently seen contact to ping, and a contact that fails `max_failures` times in a row leaves,
its place taken by the newest spare (Kademlia §2.2, §2.4). Requests sent before a miss was
counted went into the same silence: their misses are not counted again, so a busy contact
that missed one burst of answers is not dropped for it.
"""

from __future__ import annotations

import bisect
import random
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Self

from .messages import Peer, Sender, WireError
from .puzzle import ID_BYTES, NONCE_BYTES, node_id_of, solves_id_puzzle

__all__ = ["Contact", "RoutingTable"]

ID_SPACE: Final = 1 << (8 * ID_BYTES)
SPLIT_DEPTH: Final = 5  # a far bucket still splits unless its depth is a multiple of this
IDLE_BUCKET_S: Final = 3600.0  # a bucket no contact entered for this long gets refreshed
_MAX_IDS: Final = 50_000  # (key, nonce) -> id remembered, then forgotten all at once
_IDS: dict[tuple[bytes, bytes], tuple[bytes, int]] = {}


@dataclass(slots=True)
class Contact:
    """A peer: its public key and id nonce, the id they derive, the address it answered from."""

    public_key: bytes
    host: str
    port: int
    nonce: bytes = bytes(NONCE_BYTES)
    id: bytes = field(init=False, compare=False)
    number: int = field(init=False, compare=False, repr=False)  # the id as an integer

    def __post_init__(self) -> None:
        # Every contact in every answer is decoded into a Contact: the same few thousand
        # (key, nonce) pairs, hashed again each time, without this bounded memo.
        pair = (self.public_key, self.nonce)
        known = _IDS.get(pair)
        if known is None:
            if len(_IDS) >= _MAX_IDS:
                _IDS.clear()
            node_id = node_id_of(self.public_key, self.nonce)
            known = _IDS[pair] = (node_id, int.from_bytes(node_id, "big"))
        self.id, self.number = known

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def solves(self, difficulty: int) -> bool:
        if difficulty <= 0:  # any digest has at least no zero bits: only the nonce's size
            return len(self.nonce) == NONCE_BYTES
        return solves_id_puzzle(self.public_key, self.nonce, difficulty)

    def to_wire(self) -> list[Any]:
        return [self.public_key, self.host, self.port, self.nonce]

    def sender_wire(self) -> list[Any]:
        """Who sent a request, as requests carry it: the address is the datagram's."""
        return [self.public_key, self.nonce]

    @classmethod
    def from_sender(cls, value: object, address: tuple[str, int]) -> Self | None:
        try:
            sender = Sender.from_fields(value)
        except WireError:
            return None
        return cls(sender.public_key, address[0], address[1], sender.nonce)

    @classmethod
    def from_wire(cls, value: object) -> Self | None:
        """A contact from a peer's reply, or None when the quadruple is malformed."""
        peer = Peer.from_fields(value)
        return None if peer is None else cls(peer.public_key, peer.host, peer.port, peer.nonce)


@dataclass(slots=True)
class _Bucket:
    low: int  # ids in [low, high)
    high: int
    touched: float  # when a contact last entered or was heard from
    contacts: OrderedDict[bytes, Contact] = field(default_factory=OrderedDict)  # oldest first
    spares: OrderedDict[bytes, Contact] = field(default_factory=OrderedDict)  # newest last
    hosts: Counter[str] = field(default_factory=Counter)  # contacts per host, as host_of says
    # `(low ^ n) & mask` is the least XOR distance from n to an id here: a bucket is an
    # aligned range (splits halve, so its size is a power of two and `low` a multiple).
    mask: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.mask = ~(self.high - self.low - 1)

    def covers(self, number: int) -> bool:
        return self.low <= number < self.high

    def depth(self) -> int:
        """Leading bits every contact's id shares (Kademlia §4.2's relaxed splitting)."""
        numbers = [c.number for c in self.contacts.values()]
        if len(numbers) < 2:
            return 0
        return 8 * ID_BYTES - (min(numbers) ^ max(numbers)).bit_length()


class RoutingTable:
    """k-buckets over the 160-bit id space, split around this node's id."""

    def __init__(
        self,
        me: bytes,
        ksize: int,
        host_limit: int,
        host_of: Callable[[Contact], str],
        max_failures: int = 2,
        now: float = 0.0,
    ) -> None:
        self.me = me
        self.ksize = ksize
        self.host_limit = host_limit  # contacts per bucket from one host: ids are cheap to mint
        self.host_of = host_of
        self.max_failures = max_failures
        self.buckets = [_Bucket(0, ID_SPACE, now)]
        self._lows = [0]  # each bucket's low end, in order: which bucket an id falls in
        # Every contact's id, sorted, and how many contacts each address has: hand-over
        # checks count the contacts in an id range without reading the buckets.
        self._numbers: list[int] = []
        self._at: Counter[tuple[str, int]] = Counter()
        self.last_seen: dict[bytes, float] = {}
        self.failures: Counter[bytes] = Counter()
        self._failed_at: dict[bytes, float] = {}  # when each contact's last miss was counted

    # --- questions --------------------------------------------------------------------------

    def _bucket(self, number: int) -> _Bucket:
        return self.buckets[bisect.bisect_right(self._lows, number) - 1]

    def get(self, node_id: bytes) -> Contact | None:
        return self._bucket(int.from_bytes(node_id, "big")).contacts.get(node_id)

    def count_between(self, low: int, high: int) -> int:
        """How many contacts have an id in [low, high) (as integers)."""
        return bisect.bisect_left(self._numbers, high) - bisect.bisect_left(self._numbers, low)

    def count_at(self, address: tuple[str, int]) -> int:
        """How many contacts answer at `address`."""
        return self._at.get(address, 0)

    def contacts(self) -> Iterator[Contact]:
        for bucket in self.buckets:
            yield from bucket.contacts.values()

    def __len__(self) -> int:
        return sum(len(b.contacts) for b in self.buckets)

    def neighbours(
        self, target: bytes, k: int | None = None, exclude: tuple[str, int] | None = None
    ) -> list[Contact]:
        """The k contacts nearest `target` by XOR, exactly: not `target` itself (who asks for
        its own id knows itself), none at address `exclude` (who asks knows itself)."""
        number = int.from_bytes(target, "big")
        want = k or self.ksize
        # Hot (every find_node answer, every hand-over check): rather than rank the whole
        # table, read the buckets nearest `target` first. A bucket is an aligned id range, so
        # its distances to `target` form one interval, disjoint from every other bucket's:
        # once `want` contacts are in hand, every later bucket's contacts are farther.
        host, port = exclude if exclude is not None else (None, None)
        found: list[tuple[int, Contact]] = []
        for bucket in sorted(self.buckets, key=lambda b: (b.low ^ number) & b.mask):
            found += [
                (c.number ^ number, c)
                for c in bucket.contacts.values()
                if c.number != number and (c.port != port or c.host != host)
            ]
            if len(found) >= want:
                break
        found.sort(key=_first)
        return [c for _, c in found[:want]]

    def stale(self, now: float, older_than: float, limit: int) -> list[Contact]:
        """Up to `limit` contacts not heard from in `older_than` seconds, the oldest first."""
        seen = self.last_seen
        due = [c for c in self.contacts() if now - seen.get(c.id, 0.0) > older_than]
        due.sort(key=lambda c: seen.get(c.id, 0.0))
        return due[:limit]

    def refresh_ids(self, now: float, rng: random.Random) -> list[bytes]:
        """A random id in each bucket nobody entered for an hour (Kademlia §2.3)."""
        idle = [b for b in self.buckets if now - b.touched > IDLE_BUCKET_S]
        return [rng.randrange(b.low, b.high).to_bytes(ID_BYTES, "big") for b in idle]

    # --- events -----------------------------------------------------------------------------

    def add(self, contact: Contact, now: float) -> Contact | None:
        """`contact` answered us; return a contact to ping when a full bucket kept it spare.

        A known id moves to its bucket's tail (the address is the caller's to check).
        """
        if contact.id == self.me:
            return None
        bucket = self._bucket(contact.number)
        old = bucket.contacts.pop(contact.id, None)
        if old is not None:
            if old.port != contact.port or old.host != contact.host:
                self._left(bucket, old)
                self._entered(bucket, contact)
        elif not self._room_for(bucket, contact):
            return None  # many ids behind one address is how an eclipse attack starts
        elif len(bucket.contacts) >= self.ksize:
            return self._full(bucket, contact, now)
        else:
            self._entered(bucket, contact)
        bucket.spares.pop(contact.id, None)
        bucket.contacts[contact.id] = contact
        bucket.touched = self.last_seen[contact.id] = now
        if self.failures:
            self.failures.pop(contact.id, None)
            self._failed_at.pop(contact.id, None)
        return None

    def _full(self, bucket: _Bucket, contact: Contact, now: float) -> Contact | None:
        if bucket.covers(int.from_bytes(self.me, "big")) or bucket.depth() % SPLIT_DEPTH:
            self._split(bucket)
            return self.add(contact, now)
        bucket.spares.pop(contact.id, None)
        bucket.spares[contact.id] = contact
        while len(bucket.spares) > self.ksize:
            bucket.spares.popitem(last=False)
        return next(iter(bucket.contacts.values()))

    def _split(self, bucket: _Bucket) -> None:
        middle = (bucket.low + bucket.high) // 2
        left = _Bucket(bucket.low, middle, bucket.touched)
        right = _Bucket(middle, bucket.high, bucket.touched)
        for source, into in ((bucket.contacts, "contacts"), (bucket.spares, "spares")):
            for node_id, contact in source.items():
                half = left if contact.number < middle else right
                getattr(half, into)[node_id] = contact
        for half in (left, right):
            half.hosts.update(self.host_of(c) for c in half.contacts.values())
        index = self.buckets.index(bucket)
        self.buckets[index : index + 1] = [left, right]
        self._lows.insert(index + 1, middle)

    def failed(self, node_id: bytes, sent_at: float | None = None, now: float = 0.0) -> bool:
        """A request to `node_id` sent at `sent_at` went unanswered by `now`; True when that
        removed it. A request sent before the last miss counted is not a miss again: a
        lookup, a STORE and a ping sent together to a peer that stalled for a second are
        one silence, not `max_failures` of them. None: counted whenever it was sent.

        A contact not in the table (one a peer named) is not counted here, where nothing
        would ever forget it: True, and the caller remembers it as gone for a while."""
        if self.get(node_id) is None:
            self.remove(node_id)  # a spare that fails is no replacement
            return True
        counted = self._failed_at.get(node_id)
        if sent_at is not None and counted is not None and sent_at < counted:
            return False
        self._failed_at[node_id] = now
        self.failures[node_id] += 1
        if self.failures[node_id] < self.max_failures:
            return False  # one lost datagram (or a busy peer) is not death
        self.remove(node_id)
        return True

    def remove(self, node_id: bytes) -> None:
        """Drop a contact; the newest spare of its bucket takes its place."""
        bucket = self._bucket(int.from_bytes(node_id, "big"))
        bucket.spares.pop(node_id, None)
        self.last_seen.pop(node_id, None)
        self.failures.pop(node_id, None)
        self._failed_at.pop(node_id, None)
        gone = bucket.contacts.pop(node_id, None)
        if gone is None:
            return
        self._left(bucket, gone)
        for spare_id in reversed(bucket.spares):
            spare = bucket.spares[spare_id]
            if self._room_for(bucket, spare):
                del bucket.spares[spare_id]
                bucket.contacts[spare_id] = spare
                self._entered(bucket, spare)
                return

    def _entered(self, bucket: _Bucket, contact: Contact) -> None:
        bucket.hosts[self.host_of(contact)] += 1
        self._at[(contact.host, contact.port)] += 1
        bisect.insort(self._numbers, contact.number)

    def _left(self, bucket: _Bucket, contact: Contact) -> None:
        host = self.host_of(contact)
        bucket.hosts[host] -= 1
        if not bucket.hosts[host]:
            del bucket.hosts[host]
        address = (contact.host, contact.port)
        self._at[address] -= 1
        if not self._at[address]:
            del self._at[address]
        index = bisect.bisect_left(self._numbers, contact.number)
        del self._numbers[index]

    def _room_for(self, bucket: _Bucket, contact: Contact) -> bool:
        # Hot: every contact heard from that is not in its bucket (far buckets are full).
        return bucket.hosts[self.host_of(contact)] < self.host_limit


def _first(pair: tuple[int, Contact]) -> int:
    return pair[0]
