"""What one node saw lately: round trips of its requests, and when each key was last noted."""

from __future__ import annotations

import bisect
from collections import OrderedDict, deque
from collections.abc import Hashable
from typing import Final, Generic, TypeVar

__all__ = ["LastSeen", "RoundTrips"]

K = TypeVar("K", bound=Hashable)

_SAMPLES: Final = 64  # round trips the median is taken from...
_WINDOW_S: Final = 5.0  # ...those of the last few seconds
_FIRST_RTT_S: Final = 0.005  # assumed when no answer came lately


class RoundTrips:
    """(when, seconds) of recent round trips.

    The median of those of the last few seconds is neither dragged up by one stall of the
    loop (as a moving average is) nor kept up by a burst long over. Lookups ask for it after
    every answer: the round trips counted are also kept sorted, so it is read, not computed.
    """

    def __init__(self) -> None:
        self._samples: deque[tuple[float, float]] = deque()  # oldest first
        self._sorted: list[float] = []  # the same round trips, shortest first

    def add(self, at: float, seconds: float) -> None:
        if len(self._samples) >= _SAMPLES:
            self._drop_oldest()
        self._samples.append((at, seconds))
        bisect.insort(self._sorted, seconds)

    def typical(self, now: float) -> float:
        """The median round trip of the last `_WINDOW_S` seconds."""
        since = now - _WINDOW_S
        samples = self._samples
        while samples and samples[0][0] <= since:  # added in time order: the oldest go first
            self._drop_oldest()
        if not samples:  # quiet lately: a burst long over says nothing about now
            return _FIRST_RTT_S
        return self._sorted[len(self._sorted) // 2]

    def _drop_oldest(self) -> None:
        _, seconds = self._samples.popleft()
        del self._sorted[bisect.bisect_left(self._sorted, seconds)]


class LastSeen(Generic[K]):
    """When each of the latest `limit` keys was last noted; the oldest are forgotten first."""

    def __init__(self, limit: int) -> None:
        self._at: OrderedDict[K, float] = OrderedDict()
        self._limit = limit

    def note(self, key: K, at: float) -> None:
        self._at.pop(key, None)
        self._at[key] = at
        while len(self._at) > self._limit:
            self._at.popitem(last=False)

    def within(self, key: K, now: float, seconds: float) -> bool:
        """Was `key` noted less than `seconds` ago? A key noted longer ago is forgotten."""
        at = self._at.get(key)
        if at is not None and now - at >= seconds:
            del self._at[key]
            return False
        return at is not None

    def forget(self, key: K) -> None:
        self._at.pop(key, None)
