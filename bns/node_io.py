"""The datagram side of a DHT node: requests out and answers back, requests in and replies.

Bounded datagrams decoded defensively (bns/messages.py: garbage is dropped and counted, never
raised), replies matched to the address asked, the per-address limits of bns/guard.py, and
the routing table (bns/routing.py) told who answered and who did not. UDP source addresses
can be forged, so a new key enters the table only once it answered a ping of ours. Runs on a
socket's transport or on the simulator's (bns/sim.py): time is the loop's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any, Final, Protocol

from badgechain.storage import Kind, Store

from .guard import AddressGuard, address_group
from .icmp_errors import ErrorQueue
from .in_flight import InFlight
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
from .outstanding import Outstanding
from .puzzle import ID_BYTES
from .recency import LastSeen, RoundTrips
from .routing import Contact, RoutingTable
from .settings import DhtSettings

__all__ = ["Endpoint", "Owner", "now"]

log = logging.getLogger(__name__)

_VERIFY_PING_BYTES: Final = 96  # what a verification ping costs against an address's budget
_MAX_TRACKED: Final = 10_000
_GONE_S: Final = 120.0  # how long lookups skip a contact that left the table for failing
_LONG_ANSWERS: Final = frozenset({"find_node", "find_value"})  # answers of up to a datagram
Address = tuple[str, int]


class Owner(Protocol):
    """What an endpoint needs of its node (bns/dht.py's `DhtNode`)."""

    settings: DhtSettings
    me: Contact
    stats: Counter[str]
    store: Store

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...
    def accept_store(self, address: object, value: object, sender: Contact | None) -> str: ...
    def met(self, contact: Contact) -> None: ...


def now() -> float:
    """The loop's clock: real time on a socket, virtual time in the simulator (bns/sim.py)."""
    return asyncio.get_running_loop().time()


class Endpoint(asyncio.DatagramProtocol):
    """One node's UDP endpoint: `request` sends and awaits; handlers answer requests."""

    def __init__(self, dht: Owner) -> None:
        self.dht = dht
        self.settings = settings = dht.settings
        by_ip = settings.guard.group_loopback_by_ip
        self.router = RoutingTable(
            dht.me.id,
            settings.ksize,
            settings.bucket_ip_limit,
            lambda c: address_group(c.host, c.port, by_ip),
            settings.max_failures,
        )
        self.guard = AddressGuard(settings.guard)
        self.transport: asyncio.DatagramTransport | None = None
        # Requests awaiting an answer, with the contact asked (None: not a `known` contact).
        self._outstanding: Outstanding[Contact | None] = Outstanding(settings.rpc_timeout)
        # (sender, *arguments) -> the reply as it goes on the wire; tests swap some for liars.
        self._handlers: dict[str, Callable[..., Any]] = {
            "ping": self._rpc_ping,
            "store": self._rpc_store,
            "find_node": self._rpc_find_node,
            "find_value": self._rpc_find_value,
        }
        self._rtts = RoundTrips()
        self._moving: set[bytes] = set()
        # Contacts that left the table for failing: peers go on naming them for a while, and
        # a lookup that asked them would wait out a hedge delay each time.
        self._gone: LastSeen[bytes] = LastSeen(_MAX_TRACKED)
        self._verifying: set[bytes] = set()  # ids being pinged before they may enter the table
        # Addresses that asked us something and got an answer: they have proven our address,
        # so requests to them need no padding to earn a full answer.
        self._answered: LastSeen[Address] = LastSeen(_MAX_TRACKED)
        self._in_flight = InFlight(settings.max_in_flight)  # bursts would overflow buffers
        self._errors: ErrorQueue | None = None  # who refused our datagrams (bns/icmp_errors.py)

    def answer_with(self, method: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        """Answer `method` requests with `handler(sender, *args) -> reply` from now on, and
        return the handler it replaces: how tests and the simulator make a node hostile."""
        replaced = self._handlers[method]
        self._handlers[method] = handler
        return replaced

    # --- datagrams in -----------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:  # room for bursts of answers (the kernel caps it at rmem_max)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self._errors = ErrorQueue.open(sock)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._errors is not None:
            self._errors.close()
            self._errors = None

    def error_received(self, exc: Exception) -> None:
        """The kernel reported an ICMP error: fail the requests to the address refusing."""
        self._read_errors()

    def _send(self, payload: bytes, addr: Address) -> None:
        """Send one datagram, first clearing a pending ICMP error.

        With IP_RECVERR, an error the kernel holds for the socket fails its next send (the
        datagram is lost): read it first, so an answer is not dropped because an earlier
        request of ours went to a stopped node.
        """
        if self._errors is not None and self._errors.pending():
            self._read_errors()
        self.transport.sendto(payload, addr)  # type: ignore[union-attr]

    def _read_errors(self) -> None:
        for addr in self._errors.refused() if self._errors is not None else ():
            self._refused(addr)

    def _refused(self, addr: Address) -> None:
        """Nothing listens at `addr` (a stopped node): its requests fail now."""
        self.dht.stats["rpcs_refused"] += self._outstanding.fail_to(addr)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        stats = self.dht.stats
        try:
            kind, msg_id, message = decode_datagram(data)
        except WireError as exc:
            stats["datagrams_dropped"] += 1
            if exc.code == "datagram_old_version":
                stats["datagrams_old_version"] += 1
            return
        if kind != REQUEST:
            self._accept_reply(msg_id, message, addr)
            return
        source = (addr[0], addr[1])
        at = now()  # one clock read per datagram: the hot path of a busy node
        self.guard.received(source, len(data), at)
        if not self.guard.allow_request(source, at):
            stats["datagrams_dropped"] += 1
            stats["requests_rate_limited"] += 1
            return
        self._serve(msg_id, message, source, at)

    def _serve(self, msg_id: bytes, message: Any, addr: Address, at: float) -> None:
        stats = self.dht.stats
        try:
            request = Request.from_body(message)
        except WireError:
            stats["datagrams_dropped"] += 1
            return
        sender = Contact(request.sender.public_key, addr[0], addr[1], request.sender.nonce)
        if not sender.solves(self.settings.id_difficulty):
            stats["datagrams_dropped"] += 1
            stats["id_puzzle_invalid"] += 1
            return
        args = request.args()
        try:
            reply = self._handlers[request.METHOD](sender, *args)
        except (TypeError, ValueError) as exc:  # a handler refusing the arguments' shape
            log.debug("bad %s request from %s:%s: %s", request.METHOD, *addr, exc)
            stats["datagrams_dropped"] += 1
            return
        payload = self._reply_within_budget(msg_id, request.METHOD, args, reply, sender, at)
        if payload is not None and self.transport is not None:
            self._send(payload, addr)
            self._answered.note(addr, at)
        self._note_sender(sender, at)

    def _reply_within_budget(
        self, msg_id: bytes, name: str, args: list[Any], reply: Any, sender: Contact, at: float
    ) -> bytes | None:
        """The reply's datagram, shortened (fewer contacts) to what `addr` may be sent.

        An unproven address may be a forged one: it gets at most `amplification_factor`
        times the bytes it sent. A value that does not fit is replaced by contacts.
        """
        addr = sender.address
        budget = min(float(MAX_DATAGRAM_BYTES), self.guard.budget(addr, at))
        payload = encode_reply(msg_id, reply)
        if len(payload) > budget and name in _LONG_ANSWERS:
            self.dht.stats["replies_capped"] += 1
            if isinstance(reply, dict):  # a value: the contacts find_node would give instead
                reply = self._closest_wire(sender, args[0])
                payload = encode_reply(msg_id, reply)
            while isinstance(reply, list) and reply and len(payload) > budget:
                reply = reply[:-1]
                payload = encode_reply(msg_id, reply)
        if len(payload) > budget or not self.guard.spend(addr, len(payload), at):
            self.dht.stats["replies_dropped"] += 1
            return None
        return payload

    def _note_sender(self, sender: Contact, at: float) -> None:
        """Learn from a request: refresh a known contact, or check a new one by pinging it.

        A request proves nothing about its source address, so a new key only enters the
        table once it answers a ping of ours, and a source gets few new keys tried a minute.
        """
        if sender.id == self.dht.me.id:
            return
        known = self.router.get(sender.id)
        if known is not None:
            self._heard_from(sender, at)  # to its bucket's tail, or is checked if it moved
            return
        if sender.id in self._verifying or len(self._verifying) >= _MAX_TRACKED:
            return
        if not self.guard.allow_new_contact(sender.address, at):
            self.dht.stats["new_contacts_limited"] += 1
            return
        self._verifying.add(sender.id)
        self.dht.spawn(self._verify(sender))

    async def _verify(self, contact: Contact) -> None:
        try:
            if not self.guard.spend(contact.address, _VERIFY_PING_BYTES, now()):
                self.dht.stats["verifications_capped"] += 1
                return
            ok, reply = await self.request(contact, "ping", known=False)
            if ok and reply == contact.sender_wire():
                self._heard_from(contact, now())
        finally:
            self._verifying.discard(contact.id)

    def _accept_reply(self, msg_id: bytes, reply: Any, addr: Any) -> None:
        source = (addr[0], addr[1])
        if self._outstanding.answer(msg_id, source, reply):
            return
        self.dht.stats["datagrams_dropped"] += 1  # unknown, late, or from someone not asked
        late = self._outstanding.late(msg_id, source)
        if late is not None and self.transport is not None and not self.transport.is_closing():
            # Busy, not dead: the miss its timeout counted must not drop it from the table.
            self.dht.stats["late_answers"] += 1
            self._heard_from(late, now())

    def fail_outstanding(self) -> None:
        """The node stopped: every request awaiting an answer fails now."""
        self._outstanding.fail_all()

    # --- requests out -----------------------------------------------------------------------

    async def request(
        self, contact: Contact, name: str, *args: Any, known: bool = True
    ) -> tuple[bool, Any]:
        """Send one request; (True, reply) or (False, None) after `rpc_timeout`.

        For a `known` contact, failures in a row remove it from the table and an answer
        adds it.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()  # the clock is read once before the answer, once after
        msg_id = os.urandom(MSG_ID_BYTES)
        kind = REQUESTS[name]
        me = self.dht.me
        pad = kind.LONG_ANSWER and not self._has_proven_us(contact.address, started)
        message = kind(Sender(me.public_key, me.nonce), *args)
        payload = message.to_wire_bytes(msg_id, self._padded_size if pad else 0)
        if len(payload) > MAX_DATAGRAM_BYTES or self.transport is None:
            return (False, None)
        waited = self._in_flight.full()
        async with self._in_flight.slot():
            if self.transport.is_closing():  # the node stopped: fail now, quietly
                return (False, None)
            if waited:
                started = loop.time()
            tag = contact if known else None
            future = self._outstanding.add(loop, msg_id, contact.address, tag, started)
            self.dht.stats["rpcs_sent"] += 1
            self._send(payload, contact.address)
            ok, reply = await future
        at = loop.time()
        if ok:
            self.guard.prove(contact.address, at)
        if not known:
            return ok, reply
        if ok:
            self._rtts.add(at, at - started)
            self._heard_from(contact, at)
        else:
            self.dht.stats["rpc_timeouts"] += 1
            # Requests sent together into one silence count as one miss (bns/routing.py).
            if self.router.failed(contact.id, started, at):
                self._gone.note(contact.id, at)
        return ok, reply

    def _has_proven_us(self, address: Address, at: float) -> bool:
        return self._answered.within(address, at, self.settings.guard.proven_ttl / 2)

    @property
    def _padded_size(self) -> int:
        """A request this long earns a full answer from a node that has not proven us."""
        factor = self.settings.guard.amplification_factor
        return min(MAX_DATAGRAM_BYTES, int(MAX_DATAGRAM_BYTES / factor) + 1)

    def suspect(self, node_id: bytes, at: float | None = None) -> bool:
        """Did `node_id` fail its last request, or leave the table for failing lately?
        (`at`: the time, for a caller asking about many contacts at once.)"""
        if node_id in self.router.failures:
            return True
        return self._gone.within(node_id, now() if at is None else at, _GONE_S)

    @property
    def hedge_delay(self) -> float:
        """How long a lookup waits on one request before asking the next contact as well."""
        settings = self.settings
        hedge = settings.hedge_rtts * self._rtts.typical(now())
        return min(settings.rpc_timeout, max(settings.min_hedge, hedge))

    # --- the routing table ------------------------------------------------------------------

    def _heard_from(self, contact: Contact, at: float) -> None:
        """`contact` answered us (so its address is real): into the table, values handed over."""
        if contact.id == self.dht.me.id:
            return
        known = self.router.get(contact.id)
        if known is not None and known.address != contact.address:
            # A key is claimed, not proven: move a contact only once its old address is dead,
            # so one datagram naming someone's key cannot redirect the route to them.
            self.dht.spawn(self._move_if_gone(known, contact))
            return
        self._gone.forget(contact.id)
        if known is None:
            self.dht.met(contact)
        head = self.router.add(contact, at)
        # A full bucket kept it as a spare: is its oldest alive? Not asked if heard lately.
        quiet = max(self.settings.liveness_quiet, 2 * self.settings.liveness_interval)
        if head is not None and at - self.router.last_seen.get(head.id, 0.0) > quiet:
            self.dht.spawn(self.request(head, "ping"))

    async def _move_if_gone(self, old: Contact, new: Contact) -> None:
        if old.id in self._moving:
            return
        self._moving.add(old.id)
        try:
            for _ in range(self.settings.max_failures):  # a busy node may miss one ping
                if (await self.request(old, "ping", known=False))[0]:
                    return
            self.router.remove(old.id)
            self._verifying.add(new.id)
            await self._verify(new)
        finally:
            self._moving.discard(old.id)

    # --- handlers: (sender, *args) -> reply --------------------------------------------------

    def _rpc_ping(self, sender: Contact) -> list[Any]:
        return self.dht.me.sender_wire()

    def _rpc_store(self, sender: Contact, address: Any, value: Any) -> str:
        return self.dht.accept_store(address, value, sender)

    def _rpc_find_node(self, sender: Contact, address: bytes) -> list[list[Any]]:
        _check_address(address)
        return self._closest_wire(sender, address)

    def _closest_wire(self, sender: Contact, address: bytes) -> list[list[Any]]:
        return [c.to_wire() for c in self.router.neighbours(address, exclude=sender.address)]

    def _rpc_find_value(self, sender: Contact, address: bytes) -> Any:
        _check_address(address)
        value = self.dht.store.get(Kind.BNS_RECORD, address)
        if value is None:
            return self._rpc_find_node(sender, address)
        return {"value": value}


def _check_address(address: object) -> None:
    if not (isinstance(address, bytes) and len(address) == ID_BYTES):
        raise ValueError("a DHT address is 20 bytes")
