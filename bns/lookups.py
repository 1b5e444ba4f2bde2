"""A lookup on the wire: drives the pure `Lookup` (bns/lookup.py) over a node's requests.

The machine decides whom to ask and when it is over; this sends, waits and parses. Contacts
an answer names are kept only when they solve the id puzzle: ids are paid for, not claimed.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter, deque
from collections.abc import Coroutine
from typing import Any, Final, Protocol

from .lookup import Lookup
from .node_io import Endpoint, now
from .routing import Contact, RoutingTable
from .settings import DhtSettings

__all__ = ["run_lookup", "run_paths"]


class Asker(Protocol):
    """What a lookup needs of its node (bns/dht.py's `DhtNode`)."""

    settings: DhtSettings
    protocol: Endpoint
    me: Contact
    stats: Counter[str]

    @property
    def router(self) -> RoutingTable: ...
    def host_of(self, contact: Contact) -> str: ...
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...


async def run_lookup(
    node: Asker,
    address: bytes,
    want: int,
    find_value: bool,
    avoid: set[bytes] | None = None,
    trace: dict[str, int] | None = None,
    suspects: bool = False,
) -> tuple[list[Contact], list[tuple[Contact, Any]]]:
    """Drive one `Lookup` (bns/lookup.py): send what it asks, report what comes back.

    Returns the closest nodes that answered and every (contact, reply) received.
    Lookups sharing one `avoid` set take disjoint paths. Contacts that failed lately are
    skipped while others are known, unless `suspects`.
    """
    settings, protocol = node.settings, node.protocol
    # A fetch waits for its `want` closest to answer: asking that many at once costs no more
    # requests when the asker already knows them, and saves a wave of round trips.
    alpha = max(settings.alpha, want) if find_value else settings.alpha
    lookup: Lookup[Contact] = Lookup(
        address,
        want,
        alpha,
        settings.lookup_group_limit,
        protocol.hedge_delay,
        node.host_of,
        node.me.id,
        set() if avoid is None else avoid,
    )
    lookup.learn(_first_choices(node, address, suspects))
    replies: list[tuple[Contact, Any]] = []
    events = _Outcomes(asyncio.get_running_loop())
    method = "find_value" if find_value else "find_node"

    async def ask(contact: Contact) -> None:
        # The request runs as the node's background task, which its stop cancels: a failure
        # is put even then, or the lookup would wait for the outcome for ever.
        outcome: tuple[Contact, bool, Any] = (contact, False, None)
        try:
            outcome = (contact, *await protocol.request(contact, method, address))
        finally:
            events.put(outcome)

    try:
        while (send := lookup.step(at := now())) is not None:
            for contact in send:
                node.spawn(ask(contact))
            outcome = await events.get(lookup.deadline(at))
            lookup.hedge_delay = protocol.hedge_delay
            if outcome is None:
                continue  # the hedge delay passed: `step` asks the next contacts
            contact, ok, reply = outcome
            if not ok:
                lookup.failed(contact.id)
                continue
            replies.append((contact, reply))
            lookup.answered(contact.id, _contacts_in(node, reply, find_value, suspects))
    finally:
        events.close()
    if trace is not None:
        trace["rounds"], trace["asked"] = lookup.rounds, lookup.asked
    return lookup.closest(), replies


async def run_paths(
    node: Asker,
    address: bytes,
    want: int,
    find_value: bool,
    paths: int,
    trace: dict[str, int] | None = None,
    suspects: bool = False,
) -> tuple[list[Contact], list[tuple[Contact, Any]]]:
    """`paths` lookups at once on disjoint paths (S/Kademlia §4.4): no node is asked twice.

    Returns the closest that answered on any path (nearest first) and every reply; `trace`
    gets the most rounds of any path and the requests of all.
    """
    if paths <= 1:
        return await run_lookup(node, address, want, find_value, None, trace, suspects)
    avoid: set[bytes] = set()
    traces: list[dict[str, int]] = [{} for _ in range(paths)]
    results = await asyncio.gather(
        *(run_lookup(node, address, want, find_value, avoid, t, suspects) for t in traces)
    )
    closest = {c.id: c for near, _ in results for c in near}
    target = int.from_bytes(address, "big")
    if trace is not None:
        trace["rounds"] = max(t["rounds"] for t in traces)
        trace["asked"] = sum(t["asked"] for t in traces)
    replies = [reply for _, found in results for reply in found]
    return sorted(closest.values(), key=lambda c: c.number ^ target), replies


class _Outcomes:
    """The outcomes of a lookup's requests, and its one wake-up at a time.

    Like a queue read under `asyncio.timeout`, but the timer is kept while the deadline
    stays the same (it is the oldest pending request's hedge time), not made for each wait.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: deque[tuple[Contact, bool, Any]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.nan

    def put(self, outcome: tuple[Contact, bool, Any]) -> None:
        self._items.append(outcome)
        self._wake()

    async def get(self, deadline: float) -> tuple[Contact, bool, Any] | None:
        """The next outcome, or None once `deadline` passed without one."""
        if not self._items:
            if deadline != self._timer_at:
                self.close()
                self._timer_at = deadline
                self._timer = self._loop.call_at(deadline, self._expire)
            self._waiter = self._loop.create_future()
            try:
                await self._waiter  # a cancellation goes through: the lookup stops
            finally:
                self._waiter = None
        return self._items.popleft() if self._items else None

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, math.nan

    def _expire(self) -> None:
        self._timer, self._timer_at = None, math.nan
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


def _contacts_in(
    node: Asker, reply: Any, find_value: bool, suspects: bool
) -> list[tuple[bytes, Contact]]:
    """The contacts a lookup answer names that solve the id puzzle (the rest: counted), but
    those that failed lately (peers name the dead a while longer) unless `suspects`."""
    if find_value and isinstance(reply, dict):
        return []
    found = []
    at = now()
    protocol, difficulty = node.protocol, node.settings.id_difficulty
    for item in reply[: node.settings.ksize] if isinstance(reply, list) else ():
        contact = _decoded(item)
        if contact is None or not contact.solves(difficulty):
            node.stats["contacts_refused"] += 1
            continue
        if suspects or not protocol.suspect(contact.id, at):
            found.append((contact.id, contact))
    return found


_MAX_DECODED: Final = 50_000
_DECODED: dict[tuple[bytes, str, int, bytes], Contact | None] = {}


def _decoded(item: Any) -> Contact | None:
    """`Contact.from_wire(item)`, remembered: answers name the same few thousand contacts
    again and again, and checking each one's fields was a tenth of a large simulation."""
    if type(item) is not list or len(item) != 4:
        return Contact.from_wire(item)
    key, host, port, nonce = item
    # Exact types only: True == 1, so a bool port must not find an int port's contact.
    if not (type(key) is bytes and type(host) is str and type(port) is int):
        return Contact.from_wire(item)
    if type(nonce) is not bytes:
        return Contact.from_wire(item)
    wire = (key, host, port, nonce)
    if wire in _DECODED:
        return _DECODED[wire]
    if len(_DECODED) >= _MAX_DECODED:
        _DECODED.clear()
    contact = _DECODED[wire] = Contact.from_wire(item)
    return contact


def _first_choices(node: Asker, address: bytes, suspects: bool) -> list[tuple[bytes, Contact]]:
    """The k nearest contacts known, skipping those that failed lately while k others are
    left (one late answer on a busy host must not hide the only live replica), or not
    skipping them (`suspects`)."""
    k = node.settings.ksize
    known = node.router.neighbours(address, 2 * k)
    if suspects:
        return [(c.id, c) for c in known[:k]]
    at = now()
    healthy = [c for c in known if not node.protocol.suspect(c.id, at)]
    return [(c.id, c) for c in (healthy if len(healthy) >= k else known)[:k]]
