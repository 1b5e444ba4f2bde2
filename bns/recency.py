"""What one node saw lately: round trips of its requests, and when each key was last noted."""

from __future__ import annotations

import math
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
    every answer: it is kept until a sample comes or the oldest one counted gets too old.
    """

    def __init__(self) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=_SAMPLES)
        self._median = _FIRST_RTT_S
        self._until = -math.inf  # `_median` holds while `now` is below this

    def add(self, at: float, seconds: float) -> None:
        self._samples.append((at, seconds))
        self._until = -math.inf

    def typical(self, now: float) -> float:
        """The median round trip of the last `_WINDOW_S` seconds."""
        if now < self._until:
            return self._median
        since = now - _WINDOW_S
        recent = [(at, rtt) for at, rtt in self._samples if at > since]
        if not recent:  # quiet lately: a burst long over says nothing about now
            self._median, self._until = _FIRST_RTT_S, math.inf
            return _FIRST_RTT_S
        # Samples come in time order: the first counted is the first to leave the window.
        self._until = recent[0][0] + _WINDOW_S
        self._median = sorted(rtt for _, rtt in recent)[len(recent) // 2]
        return self._median


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
