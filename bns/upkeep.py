"""A node's decisions about writes and the values it holds: when a write is done, which
replicas a fetch repairs, which held values a round pushes, who is handed values. Pure:
contacts, answers and the time are passed in; bns/dht.py and bns/rounds.py do the I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .replica import OK
from .routing import Contact, RoutingTable

__all__ = [
    "FetchResult",
    "HandOvers",
    "Newcomers",
    "Pushes",
    "StoreResult",
    "among_closest",
    "behind",
    "hand_over_due",
    "liveness_due",
    "tally_store",
]

MAX_NEWCOMERS: Final = 10_000  # ids remembered as already handed their values


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


def tally_store(
    address: bytes,
    replicas: Sequence[Contact],
    answers: Sequence[tuple[bool, Any]],
    host_of: Callable[[Contact], str],
    write_quorum: int,
) -> StoreResult:
    """Count the STORE answers; done once `write_quorum` distinct hosts accepted.

    A network smaller than the quorum is done when every host the lookups found has it.
    """
    refused: Counter[str] = Counter()
    accepted = unanswered = 0
    hosts: set[str] = set()
    for contact, (ok, reply) in zip(replicas, answers, strict=True):
        if not ok:
            unanswered += 1
        elif reply == OK:
            accepted += 1
            hosts.add(host_of(contact))
        else:
            refused[str(reply)[:64]] += 1
    needed = min(write_quorum, len({host_of(c) for c in replicas}))
    return StoreResult(
        address, accepted, dict(refused), unanswered, len(hosts), len(hosts) >= needed
    )


def liveness_due(table: RoutingTable, now: float, quiet: float, limit: int) -> list[Contact]:
    """The contacts a liveness round pings, at most `limit`.

    First those that missed a request since last heard from: a second miss removes a dead
    one, an answer clears a busy one, and meanwhile lookups avoid it. Then those not heard
    from in `quiet` seconds, the longest unheard first. A contact that answered, or asked,
    lately is not pinged: it just said it is up, and idle nodes pinging each other every
    round is most of what a quiet network sends.
    """
    seen = table.last_seen
    missed = [c for c in map(table.get, table.failures) if c is not None]
    missed.sort(key=lambda c: seen.get(c.id, 0.0))
    due = missed[:limit]
    if len(due) < limit:
        chosen = {c.id for c in due}
        quiet_ones = table.stale(now, quiet, limit + len(chosen))
        due += [c for c in quiet_ones if c.id not in chosen][: limit - len(due)]
    return due


def among_closest(me: Contact, address: bytes, closest: Sequence[Contact], k: int) -> bool:
    """Is this node one of the k nearest `address`, given the k nearest others found?"""
    if len(closest) < k:
        return True
    target = int.from_bytes(address, "big")
    return me.number ^ target < closest[-1].number ^ target


def behind(
    closest: Sequence[Contact], held_by: Mapping[bytes, bytes], merged: bytes
) -> list[Contact]:
    """The replicas a fetch found that do not hold the merge: they are sent it."""
    return [c for c in closest if held_by.get(c.id) != merged]


def hand_over_due(
    table: RoutingTable, me: Contact, address: bytes, newcomer: Contact, senders: int
) -> bool:
    """Should this replica send `newcomer` the value at `address` (bns/replica.py)?"""
    k = table.ksize
    neighbours = table.neighbours(address, k=k, exclude=newcomer.address)
    # `hands_over` on the contacts' integer ids (tested to agree): it is hot in churn.
    target = int.from_bytes(address, "big")
    mine = me.number ^ target
    if sum(1 for n in neighbours if n.number ^ target < mine) >= senders:
        return False
    return len(neighbours) < k or newcomer.number ^ target < neighbours[-1].number ^ target


class HandOvers:
    """`hand_over_due` for one newcomer over every held value, with the same answers.

    Most held values are not the newcomer's to get: at least k contacts are nearer their
    address than the newcomer is. Every contact sharing the first L+1 bits of the address,
    where L is how many the newcomer shares, is nearer, so counting the table's ids in that
    range (two bisections; minus any at the newcomer's address, which the ranking leaves
    out) turns most values away without ranking anyone; the rest get the full ranking.
    The same count, against this node's own distance, turns away values that `senders`
    nearer contacts will hand over instead.
    """

    def __init__(self, table: RoutingTable, me: Contact, newcomer: Contact, senders: int) -> None:
        self.table, self.me, self.newcomer, self.senders = table, me, newcomer, senders

    def __call__(self, address: bytes) -> bool:
        table, k = self.table, self.table.ksize
        target = int.from_bytes(address, "big")
        if self._surely_nearer(target, self.newcomer.number) >= k or (
            self.senders <= k and self._surely_nearer(target, self.me.number) >= self.senders
        ):
            return False
        return hand_over_due(table, self.me, address, self.newcomer, self.senders)

    def _surely_nearer(self, target: int, number: int) -> int:
        """At least how many contacts the ranking sees share more leading bits with
        `target` than `number` does (all nearer it)."""
        distance = number ^ target
        if distance == 0:
            return 0
        span = 1 << (distance.bit_length() - 1)  # the subtree of ids sharing those bits
        low = target & ~(span - 1)
        table = self.table
        count = table.count_between(low, low + span)
        # Not counted: one whose id is `target`, those at the newcomer's address.
        left_out = table.count_between(target, target + 1)
        return count - left_out - table.count_at(self.newcomer.address)


class Pushes:
    """Held values a peer pushed here unchanged: a background round skips them, since that
    peer pushed them to the other replicas too (Kademlia §2.5)."""

    def __init__(self) -> None:
        self._at: dict[bytes, float] = {}

    def pushed(self, address: bytes, now: float) -> None:
        self._at[address] = now

    def recent(self, now: float, interval: float) -> set[bytes]:
        """The addresses pushed within `interval`; older ones are forgotten."""
        self._at = {a: at for a, at in self._at.items() if now - at < interval}
        return set(self._at)


class Newcomers:
    """Contacts already handed their values: a sender that stays out of a full bucket would
    otherwise make each of its requests scan everything this node holds."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def first_meeting(self, node_id: bytes) -> bool:
        if node_id in self._seen:
            return False
        if len(self._seen) >= MAX_NEWCOMERS:
            self._seen.clear()
        self._seen.add(node_id)
        return True
