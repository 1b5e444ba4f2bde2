"""The iterative lookup as a state machine: pure, driven by answers, failures and the time.

The caller owns the I/O: it asks `step(now)` which contacts to send a request to (None when
the lookup is over), reports each outcome with `answered` or `failed`, and waits at most
`wait(now)` for the next one. The machine keeps `alpha` requests in flight; a request still
unanswered after `hedge_delay` stops counting (the next closest contact is asked in its
place) but a late answer is still used; its closest set takes at most `group_limit` contacts
per host, so ids crowding one address cannot fill it; every contact asked joins `avoid`, so
lookups sharing one `avoid` set take disjoint paths (S/Kademlia §4.4), one after another or
at once: a contact another of them asked meanwhile is skipped.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

__all__ = ["Lookup", "State"]

C = TypeVar("C")  # the caller's contact type


class State(Enum):
    NEW = "new"
    PENDING = "pending"
    SLOW = "slow"  # pending for longer than the hedge delay: no longer holds the lookup up
    ANSWERED = "answered"
    FAILED = "failed"


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
class Lookup(Generic[C]):
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
    # Requests awaiting an answer: PENDING ones in the order sent (so of `sent_at`: `now`
    # never goes back), and SLOW ones. `step` reads these, not every contact known.
    _pending: dict[bytes, _Entry[C]] = field(default_factory=dict)
    _slow: set[bytes] = field(default_factory=set)
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
        """The closest live contacts, at most `group_limit` from any one host.

        A contact not yet asked that a lookup sharing `avoid` asked meanwhile is not live:
        it is marked failed as the walk meets it (the walk stops at the window's end, and
        contacts past it matter to no one until a later walk meets them).
        """
        picked: list[bytes] = []
        per_host: Counter[str] = Counter()
        known, avoid = self._known, self.avoid
        for _, node_id in self._order:
            entry = known[node_id]
            if entry.state is State.NEW and node_id in avoid:
                entry.state = State.FAILED
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
        return bool(self._pending or self._slow)

    def step(self, now: float) -> list[C] | None:
        """The contacts to ask now, or None when the lookup is over."""
        known, pending = self._known, self._pending
        while pending:  # sent in order, so the ones past their hedge delay come first
            node_id, entry = next(iter(pending.items()))
            if now + _EPSILON < entry.sent_at + self.hedge_delay:
                break
            entry.state = State.SLOW
            del pending[node_id]
            self._slow.add(node_id)
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
                pending[node_id] = entry
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
        if not self._pending:
            return now + self.hedge_delay
        oldest = next(iter(self._pending.values())).sent_at
        return max(now + _EPSILON, oldest + self.hedge_delay)

    def answered(self, node_id: bytes, contacts: Iterable[tuple[bytes, C]] = ()) -> None:
        entry = self._known.get(node_id)
        if entry is None:
            return
        self._settled(node_id, entry, State.ANSWERED)
        self.learn(contacts, entry.hops + 1)

    def failed(self, node_id: bytes) -> None:
        entry = self._known.get(node_id)
        if entry is not None:
            self._settled(node_id, entry, State.FAILED)

    def _settled(self, node_id: bytes, entry: _Entry[C], state: State) -> None:
        entry.state = state
        self._pending.pop(node_id, None)
        self._slow.discard(node_id)

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
