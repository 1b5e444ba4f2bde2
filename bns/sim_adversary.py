"""Hostile node behaviours for the simulator, and a read that takes disjoint paths.

A hostile node is a real `DhtNode` (it joins, answers pings and stays in routing tables like
any other) whose request handlers are swapped for a behaviour. The colluders share a `Gang`:
what they were sent first for each address, and who they are, so they can answer for each
other. What each behaviour does:

- `drop`: acknowledges every STORE and keeps nothing; a `find_value` gets contacts, never
  the value; routing answers are honest, so it stays a useful-looking contact.
- `stale`: acknowledges every STORE but keeps (gang-wide) only the first version it saw of
  each address, and serves that one: after a revocation it answers with the unrevoked record.
- `forge`: acknowledges and drops STOREs, and answers a `find_value` for a record with a
  forgery: the real entry carrying a location to the attacker's URL signed by the attacker's
  key, at a high seq. Validation must refuse it.
- `attract`: `stale`, and every `find_node`/`find_value` without a value is answered with the
  colluders nearest the address only, so a lookup that listens drifts into the gang.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import KeyPair
from badgechain.storage import Kind

from .dht import DhtNode, FetchResult
from .record import Record, make_location
from .routing import Contact

__all__ = ["Behaviour", "Gang", "fetch_disjoint", "turn"]

_FORGED_SEQ: Final = 1 << 40  # higher than any honest location's seq
_FORGED_URL: Final = "https://attacker.example/badge"


class Behaviour(Enum):
    DROP = "drop"
    STALE = "stale"
    FORGE = "forge"
    ATTRACT = "attract"


@dataclass
class Gang:
    """What the colluders share: their contacts, the first value each address was sent."""

    key: KeyPair  # signs the forgeries
    members: list[Contact] = field(default_factory=list)
    first_seen: dict[bytes, bytes] = field(default_factory=dict)
    forged: dict[bytes, bytes] = field(default_factory=dict)
    served: int = 0  # hostile answers given (values or colluders-only contacts)

    def nearest(self, address: bytes, k: int, exclude: tuple[str, int]) -> list[list[Any]]:
        target = int.from_bytes(address, "big")
        ranked = sorted(
            (m for m in self.members if m.address != exclude), key=lambda m: m.number ^ target
        )
        return [m.to_wire() for m in ranked[:k]]

    def forgery(self, address: bytes) -> bytes | None:
        """A record for `address` the gang signed itself (the real entry, a fake location)."""
        if address in self.forged:
            return self.forged[address]
        genuine = self.first_seen.get(address)
        if genuine is None:
            return None
        try:
            entry = Record.from_wire_bytes(genuine).entry
        except BadgeChainError:
            return None
        location = make_location(self.key, entry.uid, (_FORGED_URL,), _FORGED_SEQ)
        self.forged[address] = forged = Record(entry, location).to_wire_bytes()
        return forged


def turn(node: DhtNode, behaviour: Behaviour, gang: Gang) -> None:
    """Make `node` hostile (once): its request handlers answer as `behaviour` says."""
    k = node.settings.ksize
    if not isinstance(node.store, _Forgetful):  # holds nothing: what it is sent is the gang's
        node.store = _Forgetful(node.store)
    gang.members.append(node.me)

    def store(sender: Contact, address: Any, value: Any) -> str:
        if isinstance(address, bytes) and isinstance(value, bytes):
            gang.first_seen.setdefault(address, value)
        return "ok"

    def routes(sender: Contact, address: Any) -> Any:
        if behaviour is Behaviour.ATTRACT and isinstance(address, bytes) and len(address) == 20:
            gang.served += 1
            return gang.nearest(address, k, sender.address)
        return honest_find_node(sender, address)

    def find_value(sender: Contact, address: Any) -> Any:
        value: bytes | None = None
        if behaviour in (Behaviour.STALE, Behaviour.ATTRACT):
            value = gang.first_seen.get(address) if isinstance(address, bytes) else None
        elif behaviour is Behaviour.FORGE and isinstance(address, bytes):
            value = gang.forgery(address)
        if value is None:
            return routes(sender, address)
        gang.served += 1
        return {"value": value}

    answer_with = node.protocol.answer_with
    answer_with("store", store)
    honest_find_node = answer_with("find_node", routes)
    answer_with("find_value", find_value)


class _Forgetful:
    """A store that keeps a node's journal (its id, its contacts) but no DHT values."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def put(self, kind: Kind, key: bytes, value: bytes) -> None:
        if kind is not Kind.BNS_RECORD:
            self._inner.put(kind, key, value)

    def get(self, kind: Kind, key: bytes) -> bytes | None:
        return None if kind is Kind.BNS_RECORD else self._inner.get(kind, key)


async def fetch_disjoint(node: DhtNode, address: bytes, paths: int) -> FetchResult:
    """A read over `paths` disjoint lookups (S/Kademlia §4.4): `DhtNode.fetch(paths=...)`,
    which merges every path's answers as one fetch does, so one honest replica on any
    path is enough for the freshest value."""
    return await node.fetch(address, paths=max(1, paths))
