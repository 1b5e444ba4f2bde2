"""The BNS on a Kademlia DHT over UDP. The only module that imports `kademlia`.

kademlia 2.2.3 (with rpcudp 5.0.1) gives the k-bucket routing table, the node type and the
distance heap. Everything that decides what the network believes is replaced here, because
the package trusts whatever it is sent (issue 3 lists the defects, each checked by hand):

- storing nodes hand every STORE to a `ValuePolicy`, which validates it and merges it with
  what they hold, so a forged write is dropped and a stale one cannot roll a replica back;
- `fetch` asks the closest nodes, validates and merges their answers, then writes the merge
  back to the replicas that were behind; the node's own copy never answers by itself;
- `store` reports how many replicas accepted and why the others refused, and raises when
  none did (kademlia returns True when every STORE was refused, and crashes with no peers);
  a write goes to the closest nodes of two disjoint lookups, is done only once
  `write_quorum` distinct hosts accepted it, and is pushed again until then;
- a new contact receives the values it should hold, using the stored keys as they are
  (kademlia hashes them a second time and misses about half the new neighbours);
- neighbour selection is exact (kademlia's table walk misses one of the true k closest in
  roughly one lookup in seven);
- lookups keep `alpha` requests in flight and hedge: a contact slower than a few smoothed
  round trips no longer holds the lookup up, so a dead contact costs milliseconds, not the
  RPC timeout; dead contacts are then learned in the background;
- datagrams are bounded and decoded defensively, so garbage, oversized or truncated input
  is dropped and counted, never raised; replies are matched to the address asked;
- saved contacts are msgpack in the node's store, never pickle.

A node's id is derived from its public key and a nonce that solves the id puzzle
(bns/puzzle.py), so an id near a chosen key costs work. Requests carry the sender's key and
nonce, contacts travel as (public key, host, port, nonce), and a contact whose nonce does not
solve the puzzle is refused, so ids are always derived and paid for, never claimed.

UDP source addresses can be forged, so an address is believed only once it answered a
request of ours (bns/guard.py): a contact enters the table only then, values are handed over
only then, and until then a node sends that address at most a few times what it received.
Wire version 2 (message kinds 2 and 3) carries the nonces; version 1 datagrams are dropped
and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import ipaddress
import logging
import os
import random
import socket
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type information
from kademlia.node import Node
from kademlia.protocol import KademliaProtocol
from kademlia.routing import RoutingTable

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.resolve import Unreachable
from badgechain.storage import Kind, Store

from .guard import AddressGuard, GuardSettings, address_group
from .lookup import Lookup
from .messages import (
    MAX_DATAGRAM_BYTES,
    MSG_ID_BYTES,
    REQUEST,
    REQUESTS,
    Request,
    Sender,
    WireError,
    decode_datagram,
    encode_reply,
)
from .puzzle import (
    DEFAULT_ID_DIFFICULTY,
    ID_BYTES,
    NONCE_BYTES,
    node_id_of,
    solve_id_puzzle,
    solves_id_puzzle,
)
from .replica import ValuePolicy, decide_store, hands_over, merge_answers

__all__ = [
    "ID_BYTES",
    "MAX_DATAGRAM_BYTES",
    "WIRE_VERSION",
    "Contact",
    "DhtNode",
    "DhtSettings",
    "FetchResult",
    "StoreResult",
    "ValuePolicy",
    "node_id_of",
    "solve_id_puzzle",
]

log = logging.getLogger(__name__)

WIRE_VERSION: Final = 2
_SAVED_CONTACTS_KEY: Final = b"dht/contacts"
_OK: Final = "ok"
_MAX_HANDED_OVER: Final = 10_000  # ids remembered as already handed their values
_ID_NONCE_KEY: Final = b"dht/id-nonce"
_VERIFY_PING_BYTES: Final = 96  # what a verification ping costs against an address's budget
_MAX_TRACKED: Final = 10_000
_LONG_ANSWERS: Final = frozenset({"find_node", "find_value"})  # answers of up to a datagram
_JOIN_ATTEMPTS: Final = 3  # self-lookups a join makes while it knows fewer than k contacts
_HAND_OVER_WINDOW: Final = 8  # STOREs to one newcomer awaiting an answer at once
_SCAN_PAGE: Final = 256  # values read from the store at once
_SCAN_SLICE: Final = 0.005  # seconds of work on scanned values before the loop is let go


@dataclass(frozen=True, slots=True)
class DhtSettings:
    """Network parameters. Every timeout is a setting (kademlia fixes 5 s)."""

    ksize: int = 20  # replicas per value and contacts per bucket
    alpha: int = 3  # requests in flight per lookup
    read_quorum: int = 5  # closest live nodes a fetch waits for before merging
    rpc_timeout: float = 2.0  # when an unanswered request counts as a failure
    max_failures: int = 2  # failures in a row before a contact leaves the table
    max_in_flight: int = 32  # requests awaiting an answer at once, per node
    min_hedge: float = 0.01  # never hedge sooner than this...
    hedge_rtts: float = 4.0  # ...nor sooner than this many smoothed round trips
    republish_interval: float = 3600.0
    refresh_interval: float = 900.0
    liveness_interval: float = 1.0  # one background ping round per interval
    liveness_batch: int = 3  # contacts pinged per round, the longest unheard first
    bucket_ip_limit: int = 2  # contacts per bucket from one host (address_group)
    id_difficulty: int = DEFAULT_ID_DIFFICULTY  # zero bits of the node id puzzle
    lookup_group_limit: int = 2  # contacts per host among a lookup's closest
    write_quorum: int = 3  # distinct hosts that must accept a write before it is done
    write_retry_interval: float = 30.0  # how often a write short of its quorum is pushed again
    write_paths: int = 2  # disjoint lookups whose closest nodes a write goes to
    # A replica hands a value to a newcomer only while it is among this many of the nearest
    # nodes it knows (itself included), so a newcomer is not sent each value by all k.
    hand_over_senders: int = 3
    guard: GuardSettings = field(default_factory=GuardSettings)


@dataclass(slots=True)
class Contact:
    """A peer: its public key and id nonce, its derived id and the address it answered from."""

    public_key: bytes
    host: str
    port: int
    nonce: bytes = bytes(NONCE_BYTES)
    node: Any = field(init=False)  # kademlia.node.Node, which the routing table keys by id

    def __post_init__(self) -> None:
        self.node = Node(node_id_of(self.public_key, self.nonce), self.host, self.port)
        self.node.contact = self

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def solves(self, difficulty: int) -> bool:
        return solves_id_puzzle(self.public_key, self.nonce, difficulty)

    def to_wire(self) -> list[Any]:
        return [self.public_key, self.host, self.port, self.nonce]

    def sender_wire(self) -> list[Any]:
        """Who sent a request, as requests carry it: the address is the datagram's."""
        return [self.public_key, self.nonce]

    @classmethod
    def from_sender(cls, value: object, address: tuple[str, int]) -> Contact | None:
        if not (isinstance(value, list) and len(value) == 2):
            return None
        return cls.from_wire([value[0], address[0], address[1], value[1]])

    @classmethod
    def from_wire(cls, value: object) -> Contact | None:
        """A contact from a peer's reply, or None when the quadruple is malformed."""
        if not (isinstance(value, list) and len(value) == 4):
            return None
        public_key, host, port, nonce = value
        if not (isinstance(public_key, bytes) and len(public_key) == 32):
            return None
        if not (isinstance(nonce, bytes) and len(nonce) == NONCE_BYTES):
            return None
        if not (isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536):
            return None
        if not isinstance(host, str) or len(host) > 45:
            return None
        if not _is_ip(host):  # no names: resolving one would be I/O a peer controls
            return None
        return cls(public_key, host, port, nonce)


@dataclass(frozen=True, slots=True)
class StoreResult:
    address: bytes
    accepted: int  # replicas that stored (or already held) the value
    refused: dict[str, int]  # replicas that refused it, by error code
    unanswered: int
    hosts: int = 0  # distinct hosts (address_group) among the replicas that accepted
    done: bool = False  # `write_quorum` hosts (or all found) accepted; else it is pushed again


@dataclass(frozen=True, slots=True)
class FetchResult:
    value: bytes | None  # the merge of every valid answer, None when nobody holds one
    answered: int  # nodes that replied
    holders: int  # replies that carried a valid value
    dropped: int  # replies whose value failed validation
    repaired: int  # replicas sent the merge because they were behind
    rounds: int = 0  # hops of the lookup: the longest chain of answers that led to a contact
    asked: int = 0  # requests the lookup sent


class _ExactRoutingTable(RoutingTable):  # type: ignore[misc]  # kademlia is untyped
    """kademlia's table with exact neighbour selection and a per-host limit per bucket."""

    def __init__(self, protocol: Any, ksize: int, node: Any, ip_limit: int, by_ip: bool) -> None:
        super().__init__(protocol, ksize, node)
        self.ip_limit = ip_limit
        self.by_ip = by_ip  # loopback addresses grouped by IP (GuardSettings)

    def contacts(self) -> Iterator[Any]:
        for bucket in self.buckets:
            yield from bucket.nodes.values()

    def find_neighbors(self, node: Any, k: int | None = None, exclude: Any = None) -> list[Any]:
        # Hot: every find_node answer and every hand-over check ranks the whole table.
        target, own = node.long_id, node.id
        home = None if exclude is None else (exclude.ip, exclude.port)
        ranked = [
            (n.long_id ^ target, n)
            for bucket in self.buckets
            for n in bucket.nodes.values()
            if n.id != own and (home is None or (n.ip, n.port) != home)
        ]
        return [n for _, n in heapq.nsmallest(k or self.ksize, ranked, key=_first)]

    def add_contact(self, node: Any) -> None:
        bucket = self.buckets[self.get_bucket_for(node)]
        if node.id not in bucket.nodes:
            host = address_group(node.ip, node.port, self.by_ip)
            same = sum(1 for n in bucket.nodes.values() if _group(n, self.by_ip) == host)
            if same >= self.ip_limit:
                return  # many ids behind one address is how an eclipse attack starts
        super().add_contact(node)


def _first(pair: tuple[int, Any]) -> int:
    return pair[0]


def _group(node: Any, by_ip: bool) -> str:
    return address_group(node.ip, node.port, by_ip)


class _Protocol(KademliaProtocol):  # type: ignore[misc]  # kademlia is untyped
    """The UDP protocol: bounded msgpack datagrams, validated stores, hedged lookups."""

    def __init__(self, dht: DhtNode) -> None:
        # RPCProtocol.__init__ only sets the fields below; KademliaProtocol's builds the
        # inexact table, so neither is called.
        self.dht = dht
        self.settings = dht.settings
        self.source_node = dht.me.node
        self.router = _ExactRoutingTable(
            self,
            self.settings.ksize,
            self.source_node,
            self.settings.bucket_ip_limit,
            self.settings.guard.group_loopback_by_ip,
        )
        self.guard = AddressGuard(self.settings.guard)
        self.storage = None  # values live in dht.store, never in kademlia's storage
        self.transport: asyncio.DatagramTransport | None = None
        self._outstanding: dict[bytes, tuple[asyncio.Future[Any], asyncio.TimerHandle, Any]] = {}
        self._handlers: dict[str, Callable[..., Any]] = {
            "ping": self._rpc_ping,
            "store": self._rpc_store,
            "find_node": self._rpc_find_node,
            "find_value": self._rpc_find_value,
        }
        self.srtt = 0.005  # smoothed round-trip time, seconds
        self.last_seen: dict[bytes, float] = {}
        self.failures: Counter[bytes] = Counter()
        self._moving: set[bytes] = set()
        self._handed_over: set[bytes] = set()
        self._verifying: set[bytes] = set()  # ids being pinged before they may enter the table
        # Addresses that asked us something and got an answer: they have proven our address,
        # so requests to them need no padding to earn a full answer.
        self._answered: OrderedDict[tuple[str, int], float] = OrderedDict()
        # A burst (a hand-over, a republish round) must not overflow the peers' socket
        # buffers, where the kernel drops datagrams silently and they look like dead peers.
        self._in_flight = asyncio.Semaphore(self.settings.max_in_flight)

    # --- datagrams -------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:  # room for bursts of answers (the kernel caps it at rmem_max)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        stats = self.dht.stats
        try:
            kind, msg_id, message = decode_datagram(data)
        except WireError as exc:
            stats["datagrams_dropped"] += 1
            if exc.code == "datagram_old_version":
                stats["datagrams_old_version"] += 1
            return
        if kind == REQUEST:
            source = (addr[0], addr[1])
            now = _now()
            self.guard.received(source, len(data), now)
            if not self.guard.allow_request(source, now):
                stats["datagrams_dropped"] += 1
                stats["requests_rate_limited"] += 1
                return
            self._serve(msg_id, message, source)
        else:
            self._accept_reply(msg_id, message, addr)

    def _serve(self, msg_id: bytes, message: Any, addr: tuple[str, int]) -> None:
        stats = self.dht.stats
        try:
            request = Request.from_body(message)
        except WireError:
            stats["datagrams_dropped"] += 1
            return
        name, args = request.METHOD, [request.sender.fields(), *request.args()]
        handler = self._handlers[name]
        sender = Contact(request.sender.public_key, addr[0], addr[1], request.sender.nonce)
        if not sender.solves(self.settings.id_difficulty):
            stats["datagrams_dropped"] += 1
            stats["id_puzzle_invalid"] += 1
            return
        try:
            reply = handler(sender, *args[1:])
        except (TypeError, ValueError) as exc:  # wrong argument count or shape
            log.debug("bad %s request from %s:%s: %s", name, *addr, exc)
            stats["datagrams_dropped"] += 1
            return
        payload = self._reply_within_budget(msg_id, name, args, reply, sender)
        if payload is not None and self.transport is not None:
            self.transport.sendto(payload, addr)
            self._answered.pop(addr, None)
            self._answered[addr] = _now()
            while len(self._answered) > _MAX_TRACKED:
                self._answered.popitem(last=False)
        self._note_sender(sender)

    def _reply_within_budget(
        self, msg_id: bytes, name: str, args: list[Any], reply: Any, sender: Contact
    ) -> bytes | None:
        """The reply's datagram, shortened (fewer contacts) to what `addr` may be sent.

        An unproven address may be a forged one: it gets at most `amplification_factor`
        times the bytes it sent. A value that does not fit is replaced by contacts.
        """
        now, addr = _now(), sender.address
        budget = min(float(MAX_DATAGRAM_BYTES), self.guard.budget(addr, now))
        payload = encode_reply(msg_id, reply)
        if len(payload) > budget and name in _LONG_ANSWERS:
            self.dht.stats["replies_capped"] += 1
            if isinstance(reply, dict):  # a value: the contacts find_node would give instead
                reply = self._closest_wire(sender, args[1])
                payload = encode_reply(msg_id, reply)
            while isinstance(reply, list) and reply and len(payload) > budget:
                reply = reply[:-1]
                payload = encode_reply(msg_id, reply)
        if len(payload) > budget or not self.guard.spend(addr, len(payload), now):
            self.dht.stats["replies_dropped"] += 1
            return None
        return payload

    def _note_sender(self, sender: Contact) -> None:
        """Learn from a request: refresh a known contact, or check a new one by pinging it.

        A request proves nothing about its source address, so a new key only enters the
        table once it answers a ping of ours, and a source gets few new keys tried a minute.
        """
        node = sender.node
        if node.id == self.source_node.id:
            return
        known = self.router.buckets[self.router.get_bucket_for(node)].nodes.get(node.id)
        if known is not None and (known.ip, known.port) == (node.ip, node.port):
            self._heard_from(sender)  # proven before at this address: it moves to the bucket's tail
            return
        if known is not None:
            # A key is claimed, not proven: move a contact only once its old address is dead,
            # so one datagram naming someone's key cannot redirect the route to them.
            self.dht.spawn(self._move_if_gone(known.contact, sender))
            return
        if node.id in self._verifying or len(self._verifying) >= _MAX_TRACKED:
            return
        if not self.guard.allow_new_contact(sender.address, _now()):
            self.dht.stats["new_contacts_limited"] += 1
            return
        self._verifying.add(node.id)
        self.dht.spawn(self._verify(sender))

    async def _verify(self, contact: Contact) -> None:
        try:
            if not self.guard.spend(contact.address, _VERIFY_PING_BYTES, _now()):
                self.dht.stats["verifications_capped"] += 1
                return
            ok, reply = await self.request(contact, "ping", known=False)
            if ok and reply == contact.sender_wire():
                self._heard_from(contact)
        finally:
            self._verifying.discard(contact.node.id)

    def _accept_reply(self, msg_id: bytes, reply: Any, addr: Any) -> None:
        waiting = self._outstanding.get(msg_id)
        if waiting is None or waiting[2] != (addr[0], addr[1]):
            self.dht.stats["datagrams_dropped"] += 1  # unknown, late, or from someone not asked
            return
        future, timer, _ = self._outstanding.pop(msg_id)
        timer.cancel()
        if not future.done():
            future.set_result((True, reply))

    def _timeout(self, msg_id: bytes) -> None:
        future, _, _ = self._outstanding.pop(msg_id)
        if not future.done():
            future.set_result((False, None))

    async def request(
        self, contact: Contact, name: str, *args: Any, known: bool = True
    ) -> tuple[bool, Any]:
        """Send one request; (True, reply) or (False, None) after `rpc_timeout`.

        For a `known` contact, a failure removes it from the table and an answer adds it.
        """
        loop = asyncio.get_running_loop()
        msg_id = os.urandom(MSG_ID_BYTES)
        kind = REQUESTS[name]
        me = self.dht.me
        pad = kind.LONG_ANSWER and not self._has_proven_us(contact.address)
        message = kind(Sender(me.public_key, me.nonce), *args)
        payload = message.to_wire_bytes(msg_id, self._padded_size if pad else 0)
        if len(payload) > MAX_DATAGRAM_BYTES or self.transport is None:
            return (False, None)
        async with self._in_flight:
            if self.transport.is_closing():  # the node stopped: fail now, quietly
                return (False, None)
            future: asyncio.Future[Any] = loop.create_future()
            timer = loop.call_later(self.settings.rpc_timeout, self._timeout, msg_id)
            self._outstanding[msg_id] = (future, timer, contact.address)
            self.dht.stats["rpcs_sent"] += 1
            started = _now()
            self.transport.sendto(payload, contact.address)
            ok, reply = await future
        if ok:
            self.guard.prove(contact.address, _now())
        if not known:
            return ok, reply
        if ok:
            rtt = _now() - started
            self.srtt += (rtt - self.srtt) / 8  # TCP's smoothing (RFC 6298)
            self._heard_from(contact)
        else:
            self.dht.stats["rpc_timeouts"] += 1
            node_id = contact.node.id
            self.failures[node_id] += 1
            # One lost datagram (or a busy peer) is not death: only failures in a row are.
            if self.failures[node_id] >= self.settings.max_failures:
                self.router.remove_contact(contact.node)
                self.last_seen.pop(node_id, None)
                del self.failures[node_id]
        return ok, reply

    def _has_proven_us(self, address: tuple[str, int]) -> bool:
        at = self._answered.get(address)
        return at is not None and _now() - at < self.settings.guard.proven_ttl / 2

    @property
    def _padded_size(self) -> int:
        """A request this long earns a full answer from a node that has not proven us."""
        factor = self.settings.guard.amplification_factor
        return min(MAX_DATAGRAM_BYTES, int(MAX_DATAGRAM_BYTES / factor) + 1)

    @property
    def hedge_delay(self) -> float:
        settings = self.settings
        return min(settings.rpc_timeout, max(settings.min_hedge, settings.hedge_rtts * self.srtt))

    # --- what kademlia's table calls -------------------------------------------------------

    async def call_ping(self, node: Any) -> tuple[bool, Any]:
        return await self.request(node.contact, "ping")

    def _heard_from(self, contact: Contact) -> None:
        node = contact.node
        if node.id == self.source_node.id:
            return
        known = self.router.buckets[self.router.get_bucket_for(node)].nodes.get(node.id)
        if known is not None and (known.ip, known.port) != (node.ip, node.port):
            # A key is claimed, not proven: move a contact only once its old address is dead,
            # so one datagram naming someone's key cannot redirect the route to them.
            self.dht.spawn(self._move_if_gone(known.contact, contact))
            return
        self.last_seen[node.id] = _now()
        self.failures.pop(node.id, None)
        if known is None and node.id not in self._handed_over:
            # Once per contact: a sender that stays out of a full bucket would otherwise
            # make every one of its requests scan everything this node holds.
            if len(self._handed_over) > _MAX_HANDED_OVER:
                self._handed_over.clear()
            self._handed_over.add(node.id)
            self.dht.hand_over(contact)
        self.router.add_contact(node)

    async def _move_if_gone(self, old: Contact, new: Contact) -> None:
        if old.node.id in self._moving:
            return
        self._moving.add(old.node.id)
        try:
            ok, _ = await self.request(old, "ping", known=False)
            if not ok:
                self.router.remove_contact(old.node)
                self._verifying.add(new.node.id)
                await self._verify(new)
        finally:
            self._moving.discard(old.node.id)

    # --- handlers: (sender, *args) -> reply --------------------------------------------------

    def _rpc_ping(self, sender: Contact) -> list[Any]:
        return self.dht.me.sender_wire()

    def _rpc_store(self, sender: Contact, address: bytes, value: bytes) -> str:
        return self.dht.accept_store(address, value, sender)

    def _rpc_find_node(self, sender: Contact, address: bytes) -> list[list[Any]]:
        _check_address(address)
        return self._closest_wire(sender, address)

    def _closest_wire(self, sender: Contact, address: bytes) -> list[list[Any]]:
        target = Node(address)
        return [
            n.contact.to_wire() for n in self.router.find_neighbors(target, exclude=sender.node)
        ]

    def _rpc_find_value(self, sender: Contact, address: bytes) -> Any:
        _check_address(address)
        value = self.dht.store.get(Kind.BNS_RECORD, address)
        if value is None:
            return self._rpc_find_node(sender, address)
        return {"value": value}


@functools.lru_cache(maxsize=65_536)  # every reply names up to k contacts, mostly known ones
def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _now() -> float:
    """The loop's clock: real time on a socket, virtual time in the simulator (bns/sim.py)."""
    return asyncio.get_running_loop().time()


def _check_address(address: object) -> None:
    if not (isinstance(address, bytes) and len(address) == ID_BYTES):
        raise ValueError("a DHT address is 20 bytes")


class DhtNode:
    """One node of the BNS DHT: its UDP endpoint, routing table and stored values."""

    def __init__(
        self,
        public_key: bytes,
        store: Store,
        policy: ValuePolicy,
        settings: DhtSettings | None = None,
    ) -> None:
        self.settings = settings or DhtSettings()
        self.store = store
        self.policy = policy
        self.me = Contact(public_key, "127.0.0.1", 0, self._id_nonce(public_key))
        self.stats: Counter[str] = Counter()
        self.protocol = _Protocol(self)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unfinished: set[bytes] = set()  # addresses of writes short of `write_quorum`
        self._replicated: dict[bytes, float] = {}  # held values a peer pushed here, unchanged

        self._seeds: list[tuple[str, int]] = []
        self._saved_ids: frozenset[bytes] = frozenset()

    def _id_nonce(self, public_key: bytes) -> bytes:
        """This key's id puzzle solution: solved once, kept in the store, reused."""
        difficulty = self.settings.id_difficulty
        saved = self.store.get(Kind.JOURNAL, _ID_NONCE_KEY)
        if saved is not None and saved[:32] == public_key:
            nonce = saved[32:]
            if solves_id_puzzle(public_key, nonce, difficulty):
                return nonce
        started = time.monotonic()
        nonce = solve_id_puzzle(public_key, difficulty)
        log.info(
            "solved the node id puzzle (%d bits) in %.2f s", difficulty, time.monotonic() - started
        )
        self.store.put(Kind.JOURNAL, _ID_NONCE_KEY, public_key + nonce)
        return nonce

    # --- life cycle -------------------------------------------------------------------------

    async def listen(self, port: int = 0, host: str = "127.0.0.1") -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self.protocol, local_addr=(host, port)
        )
        return self.attach(transport)

    def attach(self, transport: Any) -> tuple[str, int]:
        """Run on `transport` (a socket's, or the simulator's) and start background work."""
        if self.protocol.transport is None:
            self.protocol.connection_made(transport)
        bound_host, bound_port = transport.get_extra_info("sockname")[:2]
        self.me = Contact(self.me.public_key, bound_host, bound_port, self.me.nonce)
        self.protocol.source_node = self.me.node
        self.protocol.router.node = self.me.node
        self._spawn(self._every(self.settings.liveness_interval, self._check_liveness))
        self._spawn(self._every(self.settings.republish_interval, self._republish_round))
        self._spawn(self._every(self.settings.refresh_interval, self._refresh_buckets))
        self._spawn(self._every(self.settings.write_retry_interval, self.finish_writes))
        log.info("DHT node %s listening on %s:%d", self.me.node.id.hex()[:12], *self.me.address)
        return self.me.address

    @property
    def address(self) -> tuple[str, int]:
        return self.me.address

    async def stop(self) -> None:
        """Save contacts, stop background work, close the socket, fail pending requests."""
        self.save_contacts()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.protocol.transport is not None:
            self.protocol.transport.close()
        for msg_id in list(self.protocol._outstanding):
            self.protocol._outstanding[msg_id][1].cancel()
            self.protocol._timeout(msg_id)

    async def bootstrap(self, addresses: Iterable[tuple[str, int]] = ()) -> int:
        """Join through `addresses` (or the contacts saved last run); return contacts known."""
        self._seeds = list(addresses) or self._seeds or self.saved_contacts()
        seeds = self._seeds
        await asyncio.gather(*(self._ping_address(addr) for addr in seeds))
        for _ in range(_JOIN_ATTEMPTS):
            await self._lookup(self.me.node.id, self.settings.ksize, find_value=False)
            if self.contact_count() >= self.settings.ksize:
                break  # else a lost answer left this node knowing almost nobody: ask again
        return self.contact_count()

    async def _ping_address(self, address: tuple[str, int]) -> None:
        # The public key is learned from the answer; until then a placeholder key is used.
        probe = Contact(bytes(32), address[0], address[1])
        ok, reply = await self.protocol.request(probe, "ping", known=False)
        contact = Contact.from_sender(reply, address) if ok else None
        if contact is not None and contact.solves(self.settings.id_difficulty):
            self.protocol._heard_from(contact)

    def host_of(self, contact: Contact) -> str:
        """Which host `contact` counts as, for diversity limits."""
        return address_group(contact.host, contact.port, self.settings.guard.group_loopback_by_ip)

    def contact_count(self) -> int:
        return sum(1 for _ in self.protocol.router.contacts())

    def contacts(self) -> list[Contact]:
        return [n.contact for n in self.protocol.router.contacts()]

    def save_contacts(self) -> None:
        contacts = [c.to_wire() for c in self.contacts()][: self.settings.ksize * 4]
        if contacts:
            self.store.put(Kind.JOURNAL, _SAVED_CONTACTS_KEY, msgpack.packb(contacts))

    def saved_contacts(self) -> list[tuple[str, int]]:
        raw = self.store.get(Kind.JOURNAL, _SAVED_CONTACTS_KEY)
        if raw is None:
            return []
        with contextlib.suppress(Exception):
            saved = msgpack.unpackb(raw, raw=False)
            # version 1 saved (key, host, port): only the address is used
            contacts = [Contact.from_wire([*item, bytes(NONCE_BYTES)][:4]) for item in saved]
            return [c.address for c in contacts if c is not None]
        return []

    # --- storing node -----------------------------------------------------------------------

    def accept_store(self, address: object, value: object, sender: Contact | None) -> str:
        """Validate and merge one STORE; return "ok", "stale" or the refusal's error code."""
        valid = isinstance(address, bytes) and len(address) == ID_BYTES
        current = self.held(address) if valid else None  # type: ignore[arg-type]
        decision = decide_store(self.policy, address, current, value)
        if decision.error is not None:
            self.stats["stores_refused"] += 1
            who = "self" if sender is None else f"{sender.host}:{sender.port}"
            log.info("refused a STORE from %s: %s (%s)", who, decision.code, decision.error)
        elif decision.code == "stale":
            self.stats["stores_stale"] += 1
        elif decision.code == _OK:
            if decision.write is not None:
                self.store.put(Kind.BNS_RECORD, address, decision.write)  # type: ignore[arg-type]
            if sender is not None and decision.same_as_sender:
                self._replicated[address] = _now()  # type: ignore[index]
            self.stats["stores_accepted"] += 1
        return decision.code

    def held(self, address: bytes) -> bytes | None:
        return self.store.get(Kind.BNS_RECORD, address)

    def hand_over(self, newcomer: Contact) -> None:
        """Send a new contact the values it is now among the closest to (Kademlia §2.5)."""
        self._spawn(self._hand_over(newcomer))

    async def _hand_over(self, newcomer: Contact) -> None:
        """Streamed: a few values at a time, a bounded window of STOREs awaiting an answer.

        A node holding a million values neither blocks its loop for the scan nor queues a
        million requests to one contact.
        """
        k = self.settings.ksize
        window = asyncio.Semaphore(_HAND_OVER_WINDOW)

        async def send(address: bytes, value: bytes) -> None:
            try:
                await self.protocol.request(newcomer, "store", address, value)
            finally:
                window.release()

        async for address, value in self._scan(Kind.BNS_RECORD):
            if self._hands_over(address, newcomer, k):
                await window.acquire()
                self._spawn(send(address, value))

    async def _scan(self, kind: Kind) -> AsyncIterator[tuple[bytes, bytes]]:
        """Everything of `kind` in the store, a page at a time with the loop let go between.

        A scan of a million values in one go holds the loop for seconds; a page is a bounded
        read, and the next one starts after the last key seen, so writes meanwhile are safe.
        """
        after: bytes | None = None
        slice_started = time.perf_counter()
        while True:
            page = list(self.store.scan(kind, start_after=after, limit=_SCAN_PAGE))
            for item in page:
                yield item  # the caller's work on it runs before this generator resumes
                if time.perf_counter() - slice_started > _SCAN_SLICE:
                    await asyncio.sleep(0)
                    slice_started = time.perf_counter()
            if len(page) < _SCAN_PAGE:
                return
            after = page[-1][0]

    def _hands_over(self, address: bytes, newcomer: Contact, k: int) -> bool:
        """Is `newcomer` among the k nearest to `address`, and this node a near replica?"""
        neighbours = self.protocol.router.find_neighbors(Node(address), k=k, exclude=newcomer.node)
        return hands_over(
            address,
            self.me.node.id,
            newcomer.node.id,
            [n.id for n in neighbours],
            k,
            self.settings.hand_over_senders,
        )

    # --- lookups ----------------------------------------------------------------------------

    async def _lookup(
        self,
        address: bytes,
        want: int,
        *,
        find_value: bool,
        avoid: set[bytes] | None = None,
        trace: dict[str, int] | None = None,
    ) -> tuple[list[Contact], list[tuple[Contact, Any]]]:
        """Iterative, hedged lookup of the `want` closest live nodes to `address`.

        `bns/lookup.py` decides whom to ask and when it is over; this sends, waits and parses.
        Returns the closest nodes that answered and every (contact, reply) received. Nodes
        whose ids are in `avoid` are never asked, and every node asked is added to it, so
        lookups sharing one `avoid` take disjoint paths (S/Kademlia §4.4).
        """
        settings = self.settings
        lookup: Lookup[Contact] = Lookup(
            address,
            want,
            settings.alpha,
            settings.lookup_group_limit,
            self.protocol.hedge_delay,
            self.host_of,
            self.me.node.id,
            set() if avoid is None else avoid,
        )
        lookup.learn(
            (n.id, n.contact)
            for n in self.protocol.router.find_neighbors(Node(address), k=settings.ksize)
        )
        replies: list[tuple[Contact, Any]] = []
        events: asyncio.Queue[tuple[Contact, bool, Any]] = asyncio.Queue()
        method = "find_value" if find_value else "find_node"

        async def ask(contact: Contact) -> None:
            ok, reply = await self.protocol.request(contact, method, address)
            await events.put((contact, ok, reply))

        while True:
            lookup.hedge_delay = self.protocol.hedge_delay
            send = lookup.step(_now())
            if send is None:
                break
            for contact in send:
                self._spawn(ask(contact))
            try:
                # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that
                # lands as the answer arrives, and a stopping node would then wait forever.
                async with asyncio.timeout(lookup.wait(_now())):
                    contact, ok, reply = await events.get()
            except TimeoutError:
                continue
            if not ok:
                lookup.failed(contact.node.id)
                continue
            replies.append((contact, reply))
            lookup.answered(contact.node.id, self._contacts_in(reply, find_value))
        if trace is not None:
            trace["rounds"], trace["asked"] = lookup.rounds, lookup.asked
        return lookup.closest(), replies

    def _contacts_in(self, reply: Any, find_value: bool) -> list[tuple[bytes, Contact]]:
        """The contacts a lookup answer names that solve the id puzzle (the rest: counted)."""
        if find_value and isinstance(reply, dict):
            return []
        found = []
        for item in reply[: self.settings.ksize] if isinstance(reply, list) else ():
            contact = Contact.from_wire(item)
            if contact is None or not contact.solves(self.settings.id_difficulty):
                self.stats["contacts_refused"] += 1
                continue
            found.append((contact.node.id, contact))
        return found

    async def find_closest(self, address: bytes) -> list[Contact]:
        closest, _ = await self._lookup(address, self.settings.ksize, find_value=False)
        return closest

    # --- store and fetch --------------------------------------------------------------------

    async def find_replicas(self, address: bytes) -> list[Contact]:
        """The k closest found by each of `write_paths` disjoint lookups, nearest first.

        Nodes crowding one route (or one host) cannot stand in for every replica: the
        second path asks none of the nodes the first asked.
        """
        avoid: set[bytes] = set()
        found: dict[bytes, Contact] = {}
        for _ in range(max(1, self.settings.write_paths)):
            closest, _ = await self._lookup(
                address, self.settings.ksize, find_value=False, avoid=avoid
            )
            for contact in closest:
                found.setdefault(contact.node.id, contact)
        target = Node(address)
        return sorted(found.values(), key=lambda c: target.distance_to(c.node))

    async def store_value(self, value: bytes) -> StoreResult:
        """Put `value` on the replicas `find_replicas` finds (and here, if this node is one).

        Raises the policy's error when the value is invalid, and `Unreachable` when no node
        answered. A result with `accepted == 0` means every replica refused it; `done` says
        whether `write_quorum` distinct hosts accepted it.
        """
        address = self.policy.address_of(value)
        self.policy.accept(address, None, value)  # never send what a storing node would refuse
        closest = await self.find_replicas(address)
        if not closest:
            raise Unreachable("no DHT node answered", code="dht_unreachable")
        if self._among_closest(address, closest[: self.settings.ksize]):
            self.accept_store(address, value, None)
        answers = await asyncio.gather(
            *(self.protocol.request(c, "store", address, value) for c in closest)
        )
        refused: Counter[str] = Counter()
        accepted = unanswered = 0
        hosts: set[str] = set()
        for contact, (ok, reply) in zip(closest, answers, strict=True):
            if not ok:
                unanswered += 1
            elif reply == _OK:
                accepted += 1
                hosts.add(self.host_of(contact))
            else:
                refused[str(reply)[:64]] += 1
        if accepted == 0 and unanswered == len(answers):
            raise Unreachable("no DHT node acknowledged the store", code="dht_unreachable")
        # A network smaller than the quorum is done when every host the lookups found has it.
        needed = min(self.settings.write_quorum, len({self.host_of(c) for c in closest}))
        done = len(hosts) >= needed
        return StoreResult(address, accepted, dict(refused), unanswered, len(hosts), done)

    def _among_closest(self, address: bytes, closest: list[Contact]) -> bool:
        if len(closest) < self.settings.ksize:
            return True
        target = Node(address)
        return bool(self.me.node.distance_to(target) < closest[-1].node.distance_to(target))

    async def fetch(self, address: bytes) -> FetchResult:
        """Merge the values the closest nodes hold for `address`, and repair the ones behind.

        Raises `Unreachable` when no node answered (this node's own copy is not an answer).
        """
        _check_address(address)
        trace: dict[str, int] = {}
        closest, replies = await self._lookup(
            address, self.settings.read_quorum, find_value=True, trace=trace
        )
        if not replies:
            raise Unreachable("no DHT node answered", code="dht_unreachable")
        own = self.held(address)
        answers = [(contact.node.id, reply) for contact, reply in replies]
        merge = merge_answers(
            self.policy, address, answers, (own, self.store.get(Kind.PUBLISHED, address))
        )
        for index, code in merge.dropped:
            self.stats["answers_dropped"] += 1
            log.info("dropped an answer from %s:%s: %s", *replies[index][0].address, code)
        merged, held_by = merge.value, merge.held_by
        repaired = 0
        if merged is not None:
            if own is not None and own != merged:
                self.accept_store(address, merged, None)
            for contact in closest:
                if held_by.get(contact.node.id) != merged:
                    repaired += 1
                    self._spawn(self.protocol.request(contact, "store", address, merged))
        self.stats["fetches"] += 1
        return FetchResult(
            merged,
            len(replies),
            merge.holders,
            len(merge.dropped),
            repaired,
            trace["rounds"],
            trace["asked"],
        )

    # --- background -------------------------------------------------------------------------

    def remember_published(self, value: bytes) -> None:
        """Keep `value` (merged with earlier versions) to republish it as its writer."""
        address = self.policy.address_of(value)
        current = self.store.get(Kind.PUBLISHED, address)
        self.store.put(Kind.PUBLISHED, address, self.policy.accept(address, current, value))

    async def publish(self, value: bytes) -> StoreResult:
        """Store `value` as its writer: it is kept here and republished every round.

        A write that `write_quorum` distinct hosts did not accept (or that reached nobody)
        is not done: it is pushed again every `write_retry_interval` until it is.
        """
        try:
            result = await self.store_value(value)
        except Unreachable:
            self.remember_published(value)
            self._unfinished.add(self.policy.address_of(value))
            raise
        self.remember_published(value)
        if result.done:
            self._unfinished.discard(result.address)
        else:
            self._unfinished.add(result.address)
        return result

    async def finish_writes(self) -> int:
        """Push again every write not yet done; return how many are still short of a quorum."""
        for address in list(self._unfinished):
            value = self.store.get(Kind.PUBLISHED, address)
            if value is None:
                self._unfinished.discard(address)
                continue
            try:
                result = await self.store_value(value)
            except BadgeChainError as exc:
                log.info("writing %s again failed: %s", address.hex()[:12], exc.code)
                continue
            if result.done:
                self._unfinished.discard(address)
        return len(self._unfinished)

    async def republish_once(self, skip_replicated: bool = False) -> int:
        """Push every value written or held here to its current k closest nodes.

        Writers' republishing keeps a value alive after all its replicas left; holders'
        re-replication hands values to nodes that became close since. Returns the count.
        With `skip_replicated` (the background rounds), a held value that a peer pushed here,
        unchanged, during the last round is skipped: that peer pushed it to the other
        replicas too (Kademlia §2.5), so one round costs about one push per value, not k.
        """
        count = 0
        now = _now()
        recent = {
            a for a, at in self._replicated.items() if now - at < self.settings.republish_interval
        }
        self._replicated = {a: self._replicated[a] for a in recent}
        for kind in (Kind.PUBLISHED, Kind.BNS_RECORD):
            async for address, value in self._scan(kind):
                if kind is Kind.BNS_RECORD and skip_replicated and address in recent:
                    continue
                count += await self._republish_one(address, value)
        return count

    async def _republish_one(self, address: bytes, value: bytes) -> int:
        try:
            await self.store_value(value)
        except BadgeChainError as exc:
            log.info("republishing %s failed: %s", address.hex()[:12], exc.code)
            return 0
        return 1

    async def _republish_round(self) -> int:
        return await self.republish_once(skip_replicated=True)

    async def _check_liveness(self) -> None:
        """Ping the contacts heard from least recently, so user lookups meet fewer dead ones.

        Also saves the contacts whenever they changed: a node killed without a clean stop
        must still find its way back into the network when it restarts.
        """
        known = frozenset(c.node.id for c in self.contacts())
        if known and known != self._saved_ids:
            self.save_contacts()
            self._saved_ids = known
        if self.contact_count() == 0 and self._seeds:
            await self.bootstrap()  # everyone looked dead: start over from the seeds
            return
        seen = self.protocol.last_seen
        contacts = sorted(self.contacts(), key=lambda c: seen.get(c.node.id, 0.0))
        stale_after = self.settings.liveness_interval * 2
        now = _now()
        due = [c for c in contacts if now - seen.get(c.node.id, 0.0) > stale_after]
        await asyncio.gather(
            *(self.protocol.request(c, "ping") for c in due[: self.settings.liveness_batch])
        )

    async def _refresh_buckets(self) -> None:
        """Look up a random id in each bucket not used lately (Kademlia §2.3)."""
        for node_id in self.protocol.get_refresh_ids():
            await self._lookup(node_id, self.settings.ksize, find_value=False)

    async def _every(self, interval: float, work: Callable[[], Any]) -> None:
        while True:
            # Jitter keeps a network of nodes started together from acting in lockstep.
            await asyncio.sleep(interval * random.uniform(0.8, 1.2))  # noqa: S311
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:  # a background round must never stop the node
                log.exception("background %s failed", getattr(work, "__name__", work))

    def spawn(self, coro: Any) -> None:
        """Run `coro` in the background until it ends or the node stops."""
        self._spawn(coro)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
