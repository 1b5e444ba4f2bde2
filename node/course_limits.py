"""Rate limits for what strangers may make a node do through its public course routes
(issue 15): Webmentions make it fetch a URL, registrations make it store a participant and
read their feed every hour. Each limit counts requests in a fixed window per key (a source
host, a client address) and over all keys; the counts are in memory (a restart forgets
them, which only lets a few more through) and keyed by the node's work queue (one per
node), so the nodes of one process (tests, devnets) have their own.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

from badgechain.storage.queue import WorkQueue

__all__ = ["Limits", "RateLimit", "limits_of"]

MAX_KEYS: Final = 10_000  # keys remembered per limit: the oldest window is forgotten first


@dataclass(slots=True)
class RateLimit:
    """At most `per_key` requests per key and `overall` in all, each `window_s` seconds."""

    per_key: int
    overall: int
    window_s: float
    _windows: OrderedDict[str, tuple[float, int]] = field(default_factory=OrderedDict)
    _total: tuple[float, int] = (0.0, 0)

    def check(self, key: str, now: float) -> float | None:
        """Count a request: None when allowed, else the seconds until its window ends."""
        start, count = self._total
        if now - start >= self.window_s:
            start, count = now, 0
        if count >= self.overall:
            return start + self.window_s - now
        key_start, key_count = self._windows.get(key, (now, 0))
        if now - key_start >= self.window_s:
            key_start, key_count = now, 0
        if key_count >= self.per_key:
            return key_start + self.window_s - now
        self._total = (start, count + 1)
        self._windows[key] = (key_start, key_count + 1)
        self._windows.move_to_end(key)
        while len(self._windows) > MAX_KEYS:
            self._windows.popitem(last=False)
        return None


@dataclass(slots=True)
class Limits:
    """A node's limits: Webmentions by source host, registrations by client address."""

    # Each verification may hold one of the work queue's 8 slots for up to 10 s: 20 a minute
    # keep them to under 4 slots on average, whatever strangers send.
    webmentions: RateLimit = field(default_factory=lambda: RateLimit(5, 20, 60.0))
    registrations: RateLimit = field(default_factory=lambda: RateLimit(5, 30, 3600.0))


_LIMITS: weakref.WeakKeyDictionary[WorkQueue, Limits] = weakref.WeakKeyDictionary()


def limits_of(queue: WorkQueue) -> Limits:
    """The limits of the node whose queue this is (made at its first public request)."""
    found = _LIMITS.get(queue)
    if found is None:
        found = _LIMITS[queue] = Limits()
    return found
