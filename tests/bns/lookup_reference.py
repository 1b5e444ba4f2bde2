"""The pure lookup as it was before it kept its pending requests apart (bns/lookup.py at
0e5a9ad): the reference `tests/bns/test_lookup_props.py` checks the lookup against."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from badgechain.bns.lookup import State

C = TypeVar("C")

_ALIVE = (State.NEW, State.PENDING, State.ANSWERED)
# Clocks are floats: a wait computed to end exactly at a deadline may wake a hair before it,
# and must not then be computed again as a wait of nothing.
_EPSILON = 1e-6


@dataclass
class _Entry(Generic[C]):
    contact: C
    distance: int
    host: str
    hops: int  # 1 for contacts the asking node knew, d + 1 for those a contact at d named
    state: State = State.NEW
    sent_at: float = 0.0


@dataclass
class ReferenceLookup(Generic[C]):
    target: bytes
    want: int
    alpha: int
    group_limit: int
    hedge_delay: float
    host_of: Callable[[C], str]
    me: bytes = b""
    avoid: set[bytes] = field(default_factory=set)
    _known: dict[bytes, _Entry[C]] = field(default_factory=dict)
    _order: list[tuple[int, bytes]] = field(default_factory=list)  # (distance, id), nearest first
    _target: int = 0
    asked: int = 0

    def __post_init__(self) -> None:
        self._target = int.from_bytes(self.target, "big")

    def learn(self, contacts: Iterable[tuple[bytes, C]], hops: int = 1) -> None:
        """Contacts to consider: never this node, nor one already known or avoided."""
        for node_id, contact in contacts:
            if node_id == self.me or node_id in self._known or node_id in self.avoid:
                continue
            distance = int.from_bytes(node_id, "big") ^ self._target
            self._known[node_id] = _Entry(contact, distance, self.host_of(contact), hops)
            bisect.insort(self._order, (distance, node_id))  # kept sorted: `window` is hot

    def window(self) -> list[bytes]:
        """The closest live contacts, at most `group_limit` from any one host."""
        picked: list[bytes] = []
        per_host: Counter[str] = Counter()
        known = self._known
        for _, node_id in self._order:
            entry = known[node_id]
            if entry.state not in _ALIVE:
                continue
            host = entry.host
            if per_host[host] < self.group_limit:
                per_host[host] += 1
                picked.append(node_id)
                if len(picked) == self.want:
                    break
        return picked

    def _waiting(self) -> bool:
        return any(e.state in (State.PENDING, State.SLOW) for e in self._known.values())

    def step(self, now: float) -> list[C] | None:
        """The contacts to ask now, or None when the lookup is over."""
        known = self._known
        avoid = self.avoid
        for node_id, entry in known.items():
            if entry.state is State.PENDING and now + _EPSILON >= entry.sent_at + self.hedge_delay:
                entry.state = State.SLOW
            elif entry.state is State.NEW and node_id in avoid:
                entry.state = State.FAILED  # a lookup sharing `avoid` asked it meanwhile
        closest = self.window()
        if all(known[i].state is State.ANSWERED for i in closest) and (
            len(closest) >= self.want or not self._waiting()
        ):
            return None  # a slow request only stops counting once another takes its place
        in_flight = sum(1 for i in closest if known[i].state is State.PENDING)
        send: list[C] = []
        for node_id in closest:
            if in_flight >= self.alpha:
                break
            entry = known[node_id]
            if entry.state is State.NEW:
                entry.state, entry.sent_at = State.PENDING, now
                self.avoid.add(node_id)
                self.asked += 1
                send.append(entry.contact)
                in_flight += 1
        if not send and not self._waiting():
            return None  # nothing more will come
        return send

    def wait(self, now: float) -> float:
        """How long the caller may wait for an outcome before calling `step` again."""
        return self.deadline(now) - now

    def deadline(self, now: float) -> float:
        """When the caller should call `step` again if no outcome came: the same time for as
        long as the oldest request pending and the hedge delay stay the same."""
        pending = [e.sent_at for e in self._known.values() if e.state is State.PENDING]
        if not pending:
            return now + self.hedge_delay
        return max(now + _EPSILON, min(pending) + self.hedge_delay)

    def answered(self, node_id: bytes, contacts: Iterable[tuple[bytes, C]] = ()) -> None:
        entry = self._known.get(node_id)
        if entry is None:
            return
        entry.state = State.ANSWERED
        self.learn(contacts, entry.hops + 1)

    def failed(self, node_id: bytes) -> None:
        entry = self._known.get(node_id)
        if entry is not None:
            entry.state = State.FAILED

    def closest(self) -> list[C]:
        """The closest contacts that answered (the lookup's result)."""
        return [
            self._known[i].contact for i in self.window() if self._known[i].state is State.ANSWERED
        ]

    @property
    def rounds(self) -> int:
        """Hops: the longest chain of answers that led to a contact that answered."""
        answered = [e.hops for e in self._known.values() if e.state is State.ANSWERED]
        return max(answered, default=0)
