"""A lookup on the wire: drives the pure `Lookup` (bns/lookup.py) over a node's requests.

The machine decides whom to ask and when it is over; this sends, waits and parses. Contacts
an answer names are kept only when they solve the id puzzle: ids are paid for, not claimed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine
from typing import Any, Protocol

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
) -> tuple[list[Contact], list[tuple[Contact, Any]]]:
    """Drive one `Lookup` (bns/lookup.py): send what it asks, report what comes back.

    Returns the closest nodes that answered and every (contact, reply) received.
    Lookups sharing one `avoid` set take disjoint paths.
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
    lookup.learn(_first_choices(node, address))
    replies: list[tuple[Contact, Any]] = []
    events: asyncio.Queue[tuple[Contact, bool, Any]] = asyncio.Queue()
    method = "find_value" if find_value else "find_node"

    async def ask(contact: Contact) -> None:
        ok, reply = await protocol.request(contact, method, address)
        await events.put((contact, ok, reply))

    while (send := lookup.step(now())) is not None:
        for contact in send:
            node.spawn(ask(contact))
        try:
            # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that
            # lands as the answer arrives, and a stopping node would then wait forever.
            async with asyncio.timeout(lookup.wait(now())):
                contact, ok, reply = await events.get()
        except TimeoutError:
            continue
        finally:
            lookup.hedge_delay = protocol.hedge_delay
        if not ok:
            lookup.failed(contact.id)
            continue
        replies.append((contact, reply))
        lookup.answered(contact.id, _contacts_in(node, reply, find_value))
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
) -> tuple[list[Contact], list[tuple[Contact, Any]]]:
    """`paths` lookups at once on disjoint paths (S/Kademlia §4.4): no node is asked twice.

    Returns the closest that answered on any path (nearest first) and every reply; `trace`
    gets the most rounds of any path and the requests of all.
    """
    if paths <= 1:
        return await run_lookup(node, address, want, find_value, None, trace)
    avoid: set[bytes] = set()
    traces: list[dict[str, int]] = [{} for _ in range(paths)]
    results = await asyncio.gather(
        *(run_lookup(node, address, want, find_value, avoid, t) for t in traces)
    )
    closest = {c.id: c for near, _ in results for c in near}
    target = int.from_bytes(address, "big")
    if trace is not None:
        trace["rounds"] = max(t["rounds"] for t in traces)
        trace["asked"] = sum(t["asked"] for t in traces)
    replies = [reply for _, found in results for reply in found]
    return sorted(closest.values(), key=lambda c: c.number ^ target), replies


def _contacts_in(node: Asker, reply: Any, find_value: bool) -> list[tuple[bytes, Contact]]:
    """The contacts a lookup answer names that solve the id puzzle (the rest: counted)."""
    if find_value and isinstance(reply, dict):
        return []
    found = []
    for item in reply[: node.settings.ksize] if isinstance(reply, list) else ():
        contact = Contact.from_wire(item)
        if contact is None or not contact.solves(node.settings.id_difficulty):
            node.stats["contacts_refused"] += 1
            continue
        if not node.protocol.suspect(contact.id):  # peers name the dead a while longer
            found.append((contact.id, contact))
    return found


def _first_choices(node: Asker, address: bytes) -> list[tuple[bytes, Contact]]:
    """The k nearest contacts known, skipping those that failed lately while k others are
    left (one late answer on a busy host must not hide the only live replica)."""
    k = node.settings.ksize
    known = node.router.neighbours(address, 2 * k)
    healthy = [c for c in known if not node.protocol.suspect(c.id)]
    return [(c.id, c) for c in (healthy if len(healthy) >= k else known)[:k]]
