"""The BNS on a Kademlia-style DHT over UDP: a node's public face (join, store, fetch).

The decisions are pure code driven by messages and time: the routing table
(bns/routing.py), the lookup (bns/lookup.py), what a replica keeps and merges
(bns/replica.py), when a write is done and who is handed what (bns/upkeep.py), the
per-address limits (bns/guard.py), the RPC messages and their codec (bns/messages.py).
This module and its I/O helpers (bns/node_io.py: datagrams; bns/lookups.py: a lookup's
requests; bns/reads_writes.py: storing and fetching a value; bns/rounds.py: background work;
bns/saved.py: what outlives a restart) only send, wait and store. docs/bns.md describes the
protocol and its defences.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, Final

from badgechain.chain.resolve import Unreachable
from badgechain.storage import Kind, Store

from .guard import address_group
from .held import STORE_FULL, Holdings
from .lookups import run_lookup
from .messages import MAX_DATAGRAM_BYTES
from .node_io import Endpoint, now
from .puzzle import ID_BYTES, node_id_of, solve_id_puzzle
from .reads_writes import fetch, store_value
from .replica import STALE, ValuePolicy, decide_store
from .rounds import Rounds
from .routing import Contact, RoutingTable
from .saved import id_nonce, load_contacts, save_contacts
from .settings import DhtSettings
from .upkeep import FetchResult, Newcomers, StoreResult

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
_JOIN_ATTEMPTS: Final = 3  # self-lookups a join makes while it knows fewer than k contacts


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
        self.me = Contact(
            public_key, "127.0.0.1", 0, id_nonce(store, public_key, self.settings.id_difficulty)
        )
        self.stats: Counter[str] = Counter()
        self.holdings = Holdings(
            store,
            self.me.id,
            self.settings.max_held_values,
            self.settings.max_held_bytes,
            self.stats,
        )
        self.protocol = Endpoint(self)
        self.rounds = Rounds(self)
        self.seeds: list[tuple[str, int]] = []
        self._newcomers = Newcomers()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def router(self) -> RoutingTable:
        return self.protocol.router

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
        self.rounds.start()
        log.info("DHT node %s listening on %s:%d", self.me.id.hex()[:12], *self.me.address)
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
            # The socket closes on the loop's next turn: until then the port takes datagrams
            # silently, where a stopped node's should be refused (and may be bound again).
            await asyncio.sleep(0)
        self.protocol.fail_outstanding()

    async def bootstrap(self, addresses: Iterable[tuple[str, int]] = ()) -> int:
        """Join through `addresses` (or the contacts saved last run); return contacts known."""
        self.seeds = list(addresses) or self.seeds or self.saved_contacts()
        for _ in range(_JOIN_ATTEMPTS):
            await asyncio.gather(*(self._ping_address(addr) for addr in self.seeds))
            if self.contact_count() or not self.seeds:
                break  # else every answer was lost, and a lookup from nobody finds nobody
        for _ in range(_JOIN_ATTEMPTS):
            await self.find_closest(self.me.id)
            if self.contact_count() >= self.settings.ksize:
                break  # else a lost answer left this node knowing almost nobody: ask again
        await self.rounds.refresh_after_join()
        return self.contact_count()

    async def _ping_address(self, address: tuple[str, int]) -> None:
        # The public key is learned from the answer; until then a placeholder key is used.
        probe = Contact(bytes(32), address[0], address[1])
        ok, reply = await self.protocol.request(probe, "ping", known=False)
        contact = Contact.from_sender(reply, address) if ok else None
        if contact is not None and contact.solves(self.settings.id_difficulty):
            self.protocol._heard_from(contact, now())

    def host_of(self, contact: Contact) -> str:
        """Which host `contact` counts as, for diversity limits."""
        return address_group(contact.host, contact.port, self.settings.guard.group_loopback_by_ip)

    def contact_count(self) -> int:
        return len(self.router)

    def contacts(self) -> list[Contact]:
        return list(self.router.contacts())

    def save_contacts(self) -> None:
        save_contacts(self.store, self.contacts(), self.settings.ksize * 4)

    def saved_contacts(self) -> list[tuple[str, int]]:
        return load_contacts(self.store)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run `coro` in the background until it ends or the node stops."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        elif decision.code == STALE:
            self.stats["stores_stale"] += 1
        else:
            if decision.write is not None:
                if not self.holdings.put(address, current, decision.write):  # type: ignore[arg-type]
                    return STORE_FULL  # a new value farther than all held, past the cap
                if sender is not None:  # a valid value added: the writer's request is paid back
                    self.protocol.guard.credit_store(sender.address, now())
            if sender is not None and decision.same_as_sender:
                self.rounds.pushes.pushed(address, now())  # type: ignore[arg-type]
            self.stats["stores_accepted"] += 1
        return decision.code

    def held(self, address: bytes) -> bytes | None:
        return self.store.get(Kind.BNS_RECORD, address)

    def met(self, contact: Contact) -> None:
        """A new contact proved its address: hand it its values, once (Kademlia §2.5)."""
        if self._newcomers.first_meeting(contact.id):
            self.hand_over(contact)

    def hand_over(self, newcomer: Contact) -> None:
        self.spawn(self.rounds.hand_over(newcomer))

    # --- lookups ----------------------------------------------------------------------------

    async def lookup(
        self,
        address: bytes,
        want: int,
        *,
        find_value: bool,
        avoid: set[bytes] | None = None,
        trace: dict[str, int] | None = None,
    ) -> tuple[list[Contact], list[tuple[Contact, Any]]]:
        """The `want` closest that answered and every (contact, reply) (bns/lookups.py).

        Lookups sharing one `avoid` set take disjoint paths; `trace` gets rounds and asked.
        """
        return await run_lookup(self, address, want, find_value, avoid, trace)

    async def find_closest(self, address: bytes) -> list[Contact]:
        closest, _ = await self.lookup(address, self.settings.ksize, find_value=False)
        return closest

    async def find_replicas(self, address: bytes) -> list[Contact]:
        """The k closest found by each of `write_paths` disjoint lookups, nearest first.

        Nodes crowding one route (or one host) cannot stand in for every replica: the
        second path asks none of the nodes the first asked.
        """
        avoid: set[bytes] = set()
        found: dict[bytes, Contact] = {}
        for _ in range(max(1, self.settings.write_paths)):
            closest, _ = await self.lookup(
                address, self.settings.ksize, find_value=False, avoid=avoid
            )
            for contact in closest:
                found.setdefault(contact.id, contact)
        target = int.from_bytes(address, "big")
        return sorted(found.values(), key=lambda c: c.number ^ target)

    # --- store and fetch --------------------------------------------------------------------

    async def store_value(
        self, value: bytes, replicas: Sequence[Contact] | None = None
    ) -> StoreResult:
        """Put `value` on its replicas (bns/reads_writes.py `store_value`)."""
        return await store_value(self, value, replicas)

    async def fetch(self, address: bytes, paths: int | None = None) -> FetchResult:
        """Merge the values the closest nodes hold for `address` (bns/reads_writes.py)."""
        return await fetch(self, address, paths)

    # --- writers ----------------------------------------------------------------------------

    def remember_published(self, value: bytes) -> None:
        """Keep `value` (merged with earlier versions) to republish it as its writer."""
        address = self.policy.address_of(value)
        current = self.store.get(Kind.PUBLISHED, address)
        self.store.put(Kind.PUBLISHED, address, self.policy.accept(address, current, value))

    async def publish(self, value: bytes, replicas: Sequence[Contact] | None = None) -> StoreResult:
        """Store `value` as its writer: it is kept here and republished every round.

        A write that `write_quorum` distinct hosts did not accept (or that reached nobody)
        is not done: it is pushed again every `write_retry_interval` until it is.
        """
        unfinished = self.rounds.unfinished
        try:
            result = await self.store_value(value, replicas)
        except Unreachable:
            self.remember_published(value)
            unfinished.add(self.policy.address_of(value))
            raise
        self.remember_published(value)
        if result.done:
            unfinished.discard(result.address)
        else:
            unfinished.add(result.address)
        return result

    async def finish_writes(self) -> int:
        """Push again every write not yet done; return how many are still short of a quorum."""
        return await self.rounds.finish_writes()

    async def republish_once(self, skip_replicated: bool = False) -> int:
        """Push every value written or held here to its current k closest (bns/rounds.py)."""
        return await self.rounds.republish_once(skip_replicated)
