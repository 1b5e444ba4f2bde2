"""Rate limits for what others may make a node do through its course routes (issue 15):
Webmentions make it fetch a URL, registrations make it store a participant and read their
feed every hour, an asked-for harvest reads every feed of a course at once.

Each limit counts requests in fixed windows, per key (a source host, a client address, a
course) and over all keys; a window opens with the first request after the last one ended.
The counts are in the node's store (Kind.RATE), so a restart forgets none; they stay
bounded: a window holds at most `overall` keys' counts, and each check deletes a few
counts of windows gone by (keys sort by their window's start).

The client address is the TCP peer's, or, when that peer is one of the `trusted_proxies`
the node's config names, the nearest untrusted address of its X-Forwarded-For header.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from badgechain.storage import Kind, Store

from .courses import CourseError

__all__ = [
    "HARVESTS",
    "REGISTRATIONS",
    "WEBMENTIONS",
    "RateLimit",
    "RateLimited",
    "client_address",
]

PRUNE_PER_CHECK: Final = 4  # counts of past windows deleted at each check (a check adds two)
MAX_FORWARDED_CHARS: Final = 2048
_ONE: Final = b"\x00"  # name, _ONE, window start (ms), a hash of the key → its count
_TOTAL: Final = b"\x01"  # name, _TOTAL → "<window start ms> <count over all keys>"


class RateLimited(CourseError):
    """A request over a rate limit (429); `retry_after_s` says when its window ends."""

    code = "rate_limited"  # 429 (node/errors.py), whatever the code it is raised with

    def __init__(self, message: str, *, code: str, retry_after_s: float) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `per_key` requests per key and `overall` in all, each `window_s` seconds;
    `name` keeps its counts apart from other limits' in the store."""

    name: str
    per_key: int
    overall: int
    window_s: float

    def check(self, store: Store, key: str, now: float) -> float | None:
        """Count a request: None when allowed, else the seconds until its window ends (a
        refused request is not counted)."""
        total_key = self.name.encode() + _TOTAL
        start_ms, total = _numbers(store.get(Kind.RATE, total_key))
        now_ms = max(0, int(now * 1000))
        if not 0 <= now_ms - start_ms < self.window_s * 1000:  # (a clock set back too)
            start_ms, total = now_ms, 0  # a new window
        ends_in = start_ms / 1000 + self.window_s - now
        digest = hashlib.sha256(key.encode()).digest()[:16]
        one_key = self._prefix() + start_ms.to_bytes(8, "big") + digest
        count = _numbers(store.get(Kind.RATE, one_key))[1]
        self._prune(store, start_ms)
        if total >= self.overall or count >= self.per_key:
            return ends_in
        with store.batch() as batch:
            batch.put(Kind.RATE, total_key, f"{start_ms} {total + 1}".encode())
            batch.put(Kind.RATE, one_key, f"0 {count + 1}".encode())
        return None

    def _prefix(self) -> bytes:
        return self.name.encode() + _ONE

    def _prune(self, store: Store, start_ms: int) -> None:
        prefix = self._prefix()
        for stored, _ in list(store.scan(Kind.RATE, prefix, limit=PRUNE_PER_CHECK)):
            if int.from_bytes(stored[len(prefix) : len(prefix) + 8], "big") >= start_ms:
                break  # the rest are this window's
            store.delete(Kind.RATE, stored)


def _numbers(raw: bytes | None) -> tuple[int, int]:
    """A stored "<start ms> <count>"; (0, 0) for none (or for bytes not of that shape)."""
    parts = (raw or b"").split()
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        return 0, 0
    return int(parts[0]), int(parts[1])


# Each verification may hold one of the work queue's 8 slots for up to 10 s: 20 a minute
# keep them to under 4 slots on average, whatever strangers send.
WEBMENTIONS: Final = RateLimit("webmention", per_key=5, overall=20, window_s=60.0)
REGISTRATIONS: Final = RateLimit("registration", per_key=5, overall=30, window_s=3600.0)
# An asked-for harvest fetches every feed of the course; the schedule does so hourly anyway.
HARVESTS: Final = RateLimit("harvest", per_key=12, overall=60, window_s=3600.0)


def client_address(
    remote: str | None, forwarded_for: list[str], trusted_proxies: Iterable[str]
) -> str:
    """Who sent a request: its TCP peer (`remote`), or behind trusted proxies the address
    the nearest of them saw (its X-Forwarded-For headers, `forwarded_for`, read right to
    left past the trusted hops)."""
    peer = remote or "unknown"
    networks = [ipaddress.ip_network(net, strict=False) for net in trusted_proxies]
    if not _within(peer, networks):
        return peer
    forwarded = ",".join(forwarded_for)
    hops = [hop.strip() for hop in forwarded[:MAX_FORWARDED_CHARS].split(",")]
    for hop in reversed(hops):
        if not _is_address(hop):
            return peer  # a malformed header says nothing we can count on
        if not _within(hop, networks):
            return hop
    return peer


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _within(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
