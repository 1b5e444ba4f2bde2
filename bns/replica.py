"""What a replica decides about values: keep a STORE, merge answers, hand a value over.

Pure: the values' meaning comes from a `ValuePolicy` (bns/values.py), everything else is
passed in; bns/dht.py does the I/O and counts what these decide.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from badgechain.chain.errors import BadgeChainError

from .puzzle import ID_BYTES

__all__ = ["Merge", "StoreDecision", "ValuePolicy", "decide_store", "hands_over", "merge_answers"]

MAX_VALUE_BYTES: Final = 1200
OK: Final = "ok"
STALE: Final = "stale"


class ValuePolicy(Protocol):
    """What values mean: where each belongs and how two copies combine (bns/values.py)."""

    def address_of(self, value: bytes) -> bytes:
        """The 20-byte DHT address `value` must live at; raise BadgeChainError when invalid."""
        ...

    def accept(self, address: bytes, current: bytes | None, incoming: bytes) -> bytes:
        """What to keep at `address` after `incoming` arrives; raise BadgeChainError to refuse.

        `current` was accepted before and is trusted; `incoming` is validated in full,
        including that it belongs at `address` (`address_mismatch` otherwise).
        """
        ...


@dataclass(frozen=True, slots=True)
class StoreDecision:
    code: str  # the answer: "ok", "stale" or the refusal's error code
    write: bytes | None = None  # what to put in the store, when it changes
    error: BadgeChainError | None = None  # the policy's refusal, for the log
    same_as_sender: bool = False  # after it, this replica holds exactly what was sent


def decide_store(
    policy: ValuePolicy, address: object, current: bytes | None, value: object
) -> StoreDecision:
    """One STORE: validated, merged with what is held; a value behind it is `stale`."""
    if not (isinstance(address, bytes) and len(address) == ID_BYTES):
        return StoreDecision("address_invalid")
    if not isinstance(value, bytes):
        return StoreDecision("value_invalid")
    if len(value) > MAX_VALUE_BYTES:
        return StoreDecision("value_too_large")
    try:
        merged = policy.accept(address, current, value)
    except BadgeChainError as exc:
        return StoreDecision(exc.code, error=exc)
    if current is not None and merged == current and value != current:
        # Valid but behind what is held (an older location, an unrevoked copy): kept out,
        # and the writer is told, so a replayed value is visibly refused.
        return StoreDecision(STALE)
    return StoreDecision(OK, merged if merged != current else None, None, merged == value)


@dataclass(slots=True)
class Merge:
    value: bytes | None = None  # the merge of every valid answer and the local copies
    holders: int = 0  # answers that carried a valid value
    held_by: dict[bytes, bytes] = field(default_factory=dict)  # answerer id -> its value
    dropped: list[tuple[int, str]] = field(default_factory=list)  # (answer index, code)


def merge_answers(
    policy: ValuePolicy,
    address: bytes,
    answers: Sequence[tuple[bytes, Any]],
    local: Iterable[bytes | None] = (),
) -> Merge:
    """Merge the `find_value` answers (answerer id, reply) and this node's own copies.

    Answers from the nearest nodes first, so of two conflicting entries the nearer wins; an
    answer that fails validation is dropped, never merged. Local copies (what this node
    holds and what it wrote) always count: a writer sees its own writes.
    """
    target = int.from_bytes(address, "big")
    order = sorted(range(len(answers)), key=lambda i: int.from_bytes(answers[i][0], "big") ^ target)
    result = Merge()
    checked: set[bytes] = set()  # replicas mostly agree: validate each distinct value once
    for index in order:
        node_id, reply = answers[index]
        if not (isinstance(reply, dict) and isinstance(reply.get("value"), bytes)):
            continue
        value = reply["value"]
        try:
            if value not in checked:
                result.value = policy.accept(address, result.value, value)
                checked.add(value)
        except BadgeChainError as exc:
            result.dropped.append((index, exc.code))
            continue
        result.holders += 1
        result.held_by[node_id] = value
    for copy in local:
        if copy is None or copy in checked:
            continue
        if result.value is None:
            result.value = copy
        else:
            with contextlib.suppress(BadgeChainError):
                result.value = policy.accept(address, copy, result.value)
    return result


def hands_over(
    address: bytes,
    me: bytes,
    newcomer: bytes,
    neighbours: Sequence[bytes],
    k: int,
    senders: int,
) -> bool:
    """Should this replica send `newcomer` the value at `address` (Kademlia §2.5)?

    `neighbours` are the ids of the k nearest contacts this node knows, newcomer excluded,
    nearest first. Yes when the newcomer is among the k nearest, and this node among the
    `senders` nearest it knows, so a newcomer is not sent each value by every replica.
    """
    target = int.from_bytes(address, "big")

    def distance(node_id: bytes) -> int:
        return int.from_bytes(node_id, "big") ^ target

    mine = distance(me)
    if sum(1 for n in neighbours if distance(n) < mine) >= senders:
        return False
    return len(neighbours) < k or distance(newcomer) < distance(neighbours[-1])
