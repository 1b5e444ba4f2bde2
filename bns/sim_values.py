"""Validation verdicts shared by every node of a simulation, remembered by content.

A value's validation is a function of its bytes alone (the address, what is held, what
arrived), so in a simulation where thousands of nodes receive the same signed record, every
storing node still asks for the verdict, but the Ed25519 checks behind it run once per
distinct input. Refusals are remembered too: a forged value is refused by every node, each
time it arrives, at the price of one check. Never used on a real network, where each node
must do its own crypto.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Final, TypeVar

from badgechain.chain.errors import BadgeChainError

from .replica import ValuePolicy

__all__ = ["SharedVerdicts"]

_MAX_REMEMBERED: Final = 500_000  # verdicts kept before the cache starts over (bounded memory)
K = TypeVar("K", bound=Hashable)
Verdict = bytes | BadgeChainError


class SharedVerdicts:
    """A `ValuePolicy` that asks `policy` once per distinct input and replays its verdict."""

    def __init__(self, policy: ValuePolicy, limit: int = _MAX_REMEMBERED) -> None:
        self.policy = policy
        self.limit = limit
        self._addresses: dict[bytes, Verdict] = {}
        self._merges: dict[tuple[bytes, bytes | None, bytes], Verdict] = {}
        self.checks = 0  # verdicts computed
        self.replays = 0  # verdicts answered from memory

    def address_of(self, value: bytes) -> bytes:
        verdict = self._addresses.get(value)
        if verdict is None:
            verdict = self._compute(lambda: self.policy.address_of(value))
            self._remember(self._addresses, value, verdict)
        else:
            self.replays += 1
        return _replay(verdict)

    def accept(self, address: bytes, current: bytes | None, incoming: bytes) -> bytes:
        key = (address, current, incoming)
        verdict = self._merges.get(key)
        if verdict is None:
            verdict = self._compute(lambda: self.policy.accept(address, current, incoming))
            self._remember(self._merges, key, verdict)
        else:
            self.replays += 1
        return _replay(verdict)

    def _compute(self, work: Callable[[], bytes]) -> Verdict:
        self.checks += 1
        try:
            return work()
        except BadgeChainError as exc:
            return exc

    def _remember(self, table: dict[K, Verdict], key: K, verdict: Verdict) -> None:
        if len(table) >= self.limit:
            table.clear()  # starting over costs some repeated checks, never a wrong verdict
        table[key] = verdict


def _replay(verdict: Verdict) -> bytes:
    if isinstance(verdict, BadgeChainError):
        raise verdict.with_traceback(None)  # the same refusal, not a growing traceback
    return verdict
