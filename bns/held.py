"""What a storing node holds, and its cap: a count and bytes of replica values (settings).

Values are tallied by distance class, the bit length of (address XOR node id): every value of
a class is farther from the node than every value of a lower class. Past the cap a value
for a new address is refused unless values of a farther class can make room; those are
evicted first. A value already held is never refused its update (a revocation above all),
so the cap can neither censor a revocation nor keep an old version alive.

The tally starts empty and is completed by one paged scan of the store after start
(`count`); until then nothing is refused or evicted.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Final

from badgechain.storage import Kind, Store

from .puzzle import ID_BYTES

__all__ = ["STORE_FULL", "Holdings"]

STORE_FULL: Final = "store_full"  # the refusal's code, as a STORE's answer
_CLASSES: Final = ID_BYTES * 8 + 1
_COUNT_PAGE: Final = 256  # values tallied at once before the loop is let go


class Holdings:
    def __init__(
        self, store: Store, me: bytes, max_values: int, max_bytes: int, stats: Counter[str]
    ) -> None:
        self.store = store
        self.me = int.from_bytes(me, "big")
        self.max_values = max_values
        self.max_bytes = max_bytes
        self.values = [0] * _CLASSES  # by distance class
        self.bytes = [0] * _CLASSES
        self.stats = stats  # the node's: stores_full, values_evicted
        self.ready = False
        self._cursor: bytes | None = None  # the scan has tallied every address up to this

    def class_of(self, address: bytes) -> int:
        return (int.from_bytes(address, "big") ^ self.me).bit_length()

    @property
    def held(self) -> tuple[int, int]:
        """(values, bytes) tallied."""
        return sum(self.values), sum(self.bytes)

    def _over(self, values: int = 0, size: int = 0) -> bool:
        count, total = self.held
        return count + values > self.max_values or total + size > self.max_bytes

    def _farthest(self) -> int | None:
        return next((c for c in range(_CLASSES - 1, -1, -1) if self.values[c]), None)

    # --- decisions --------------------------------------------------------------------------

    def put(self, address: bytes, current: bytes | None, value: bytes) -> bool:
        """Keep `value` for `address` (held now: `current`) unless the cap refuses it."""
        if not self.admits(address, len(value), current is not None):
            return False
        self.store.put(Kind.BNS_RECORD, address, value)
        self.changed(address, None if current is None else len(current), len(value))
        self.trim(address)
        return True

    def admits(self, address: bytes, size: int, held: bool) -> bool:
        """May a value of `size` bytes be kept for `address`? An update (`held`) always may."""
        if held or not self.ready or not self._over(1, size):
            return True
        farthest = self._farthest()
        if farthest is not None and farthest > self.class_of(address):
            return True  # `trim` makes room by evicting farther values
        self.stats["stores_full"] += 1
        return False

    def trim(self, keep: bytes) -> None:
        """Evict the farthest values while over the cap, none as near as `keep` (just put)."""
        boundary = self.class_of(keep)
        while self.ready and self._over():
            farthest = self._farthest()
            if farthest is None or farthest <= boundary or not self._evict_one(farthest):
                return

    def _evict_one(self, distance_class: int) -> bool:
        low, high = self._range(distance_class)
        start = None if low == 0 else (low - 1).to_bytes(ID_BYTES, "big")
        for address, value in self.store.scan(Kind.BNS_RECORD, start_after=start, limit=1):
            if int.from_bytes(address, "big") < high:
                self.store.delete(Kind.BNS_RECORD, address)
                self.changed(address, len(value), None)
                self.stats["values_evicted"] += 1
                return True
        return False

    def _range(self, distance_class: int) -> tuple[int, int]:
        """The addresses [low, high) at distance class `distance_class` from this node."""
        if distance_class == 0:
            return self.me, self.me + 1
        half = 1 << (distance_class - 1)
        low = ((self.me >> distance_class) << distance_class) | (~self.me & half)
        return low, low + half

    # --- the tally --------------------------------------------------------------------------

    def changed(self, address: bytes, old: int | None, new: int | None) -> None:
        """The value at `address` went from `old` bytes to `new` (None: absent)."""
        if not self.ready and (self._cursor is None or address > self._cursor):
            return  # the scan has yet to reach it: it will tally what it finds there
        distance_class = self.class_of(address)
        if old is not None:
            self.values[distance_class] -= 1
            self.bytes[distance_class] -= old
        if new is not None:
            self.values[distance_class] += 1
            self.bytes[distance_class] += new

    async def count(self) -> None:
        """Tally what the store holds, a page at a time with the loop let go between."""
        while True:
            page = list(
                self.store.scan(Kind.BNS_RECORD, start_after=self._cursor, limit=_COUNT_PAGE)
            )
            for address, value in page:
                distance_class = self.class_of(address)
                self.values[distance_class] += 1
                self.bytes[distance_class] += len(value)
            if len(page) < _COUNT_PAGE:
                self.ready = True
                return
            self._cursor = page[-1][0]
            await asyncio.sleep(0)
