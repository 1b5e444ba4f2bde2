"""How far this node's own writes of badge records (a move, a hide, a revocation) reached.

A write fewer than `write_quorum` hosts took is kept and pushed again every
`write_retry_interval` (bns/rounds.py); `Writes` remembers each UID's last tally so the
node can say so (node/replication.py), and pushes one again at once when asked.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from typing import Final

from badgechain.chain.uid import Uid
from badgechain.storage import Kind

from .dht import DhtNode, StoreResult
from .errors import RecordError
from .record import derive_dht_key
from .values import address_of_key

__all__ = ["MAX_WRITES_KEPT", "Writes", "require_accepted"]

MAX_WRITES_KEPT: Final = 1024  # UIDs whose last write's tally is remembered


def require_accepted(result: StoreResult, what: str) -> StoreResult:
    """`result`, or a RecordError with the commonest refusal when no replica took the write."""
    if result.accepted == 0:
        code, _ = max(result.refused.items(), key=lambda kv: kv[1], default=("refused", 0))
        raise RecordError(f"every replica refused the {what}: {result.refused}", code=code)
    return result


class Writes:
    def __init__(self, dht: DhtNode) -> None:
        self.dht = dht
        self._tallies: OrderedDict[Uid, StoreResult] = OrderedDict()

    async def publish(self, uid: Uid, value: bytes) -> StoreResult:
        """Publish `value`, the record of `uid`, as its writer; remember how it went."""
        result = await self.dht.publish(value)
        self._tallies[uid] = result
        self._tallies.move_to_end(uid)
        if len(self._tallies) > MAX_WRITES_KEPT:
            self._tallies.popitem(last=False)
        return result

    def last(self, uid: Uid) -> StoreResult | None:
        """The tally of this node's last write of `uid` (while remembered); `done` is false
        while the write is short of its quorum and still pushed again."""
        result = self._tallies.get(uid)
        if result is None:
            return None
        pending = address_of_key(derive_dht_key(uid)) in self.dht.rounds.unfinished
        return replace(result, done=not pending)

    async def push_again(self, uid: Uid) -> StoreResult | None:
        """Push this node's copy of `uid`'s record now, not at the next retry round; None
        when this node wrote none. Raises `Unreachable` when no replica answers."""
        value = self.dht.store.get(Kind.PUBLISHED, address_of_key(derive_dht_key(uid)))
        if value is None:
            return None
        await self.publish(uid, value)
        return self.last(uid)
