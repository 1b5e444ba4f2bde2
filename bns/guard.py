"""Per-address limits that keep a DHT node from being an amplifier or a flooded table.

UDP lets anyone write any source address, so an address is believed only after it answered
a request of ours (a round trip: it is "proven"). Until then a node sends it at most
`factor` times the bytes it received from it, serves a bounded rate of its requests, and
tries at most a few of the new keys it names per minute. A proven writer's STOREs that add
a valid value to what this node holds are paid back (up to a rate of their own): a peer
publishing a batch is a writer, not a flood. Pure: time is passed in.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

__all__ = ["AddressGuard", "GuardSettings", "address_group"]

Address = tuple[str, int]
_MAX_TRACKED: Final = 10_000  # addresses remembered per table; the oldest are forgotten


@dataclass(frozen=True, slots=True)
class GuardSettings:
    amplification_factor: float = 3.0  # bytes sent to an unproven address / bytes it sent
    unproven_requests_per_s: float = 20.0  # requests served per unproven source...
    unproven_burst: float = 40.0  # ...with this much burst
    # Proven addresses too, more loosely: a forged request from a proven address (a peer
    # this node talks to) still gets a full answer, which then goes to that peer.
    proven_requests_per_s: float = 200.0
    proven_burst: float = 400.0
    # A proven address's STORE that added a valid value (signed, its entry's stamp paid; not
    # a replay of what is held) gives its request back, at most this often: a batch's
    # writer is not throttled to 200/s, and a writer of junk still is bounded.
    proven_store_credits_per_s: float = 1000.0
    proven_store_credit_burst: float = 2000.0
    new_contacts_per_minute: int = 4  # new keys tried per source address (ip:port) per minute
    new_contacts_per_ip_minute: int = 32  # and per IP (loopback only when grouped by IP)
    proven_ttl: float = 3600.0  # how long an answer proves an address
    group_loopback_by_ip: bool = False  # True: loopback IPs count as hosts (tests on 127.0.0.x)


@functools.lru_cache(maxsize=65_536)  # lookups ask it for every contact they rank
def address_group(host: str, port: int, group_loopback_by_ip: bool) -> str:
    """Which "host" an address is: its IP, except loopback ports when they are separate nodes."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback and not group_loopback_by_ip:
        return f"{host}:{port}"
    return host


class _Window:
    """Counts in fixed one-minute windows, per key, for at most _MAX_TRACKED keys."""

    def __init__(self, span: float) -> None:
        self.span = span
        self.counts: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def add(self, key: str, now: float) -> int:
        started, count = self.counts.pop(key, (now, 0))
        if now - started >= self.span:
            started, count = now, 0
        self.counts[key] = (started, count + 1)
        while len(self.counts) > _MAX_TRACKED:
            self.counts.popitem(last=False)
        return count + 1


class AddressGuard:
    def __init__(self, settings: GuardSettings) -> None:
        self.settings = settings
        self._proven: OrderedDict[Address, float] = OrderedDict()
        # per unproven address: (window start, bytes received, bytes sent)
        self._ledger: OrderedDict[Address, tuple[float, int, int]] = OrderedDict()
        self._tokens: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._new_by_address = _Window(60.0)
        self._new_by_ip = _Window(60.0)

    def group(self, address: Address) -> str:
        return address_group(address[0], address[1], self.settings.group_loopback_by_ip)

    # --- proof of address -------------------------------------------------------------------

    def prove(self, address: Address, now: float) -> None:
        """`address` answered a request of ours."""
        self._proven.pop(address, None)
        self._proven[address] = now
        self._ledger.pop(address, None)
        while len(self._proven) > _MAX_TRACKED:
            self._proven.popitem(last=False)

    def is_proven(self, address: Address, now: float) -> bool:
        at = self._proven.get(address)
        return at is not None and now - at < self.settings.proven_ttl

    # --- bytes ------------------------------------------------------------------------------

    def received(self, address: Address, size: int, now: float) -> None:
        if self.is_proven(address, now):
            return
        started, got, sent = self._ledger.pop(address, (now, 0, 0))
        if now - started >= 60.0:
            started, got, sent = now, 0, 0
        self._ledger[address] = (started, got + size, sent)
        while len(self._ledger) > _MAX_TRACKED:
            self._ledger.popitem(last=False)

    def budget(self, address: Address, now: float) -> float:
        """Bytes this node may still send `address` (infinite once it is proven)."""
        if self.is_proven(address, now):
            return float("inf")
        _, got, sent = self._ledger.get(address, (now, 0, 0))
        return got * self.settings.amplification_factor - sent

    def spend(self, address: Address, size: int, now: float) -> bool:
        """Count `size` bytes sent to `address`; False (and nothing counted) when over budget."""
        if self.budget(address, now) < size:
            return False
        if address in self._ledger:
            started, got, sent = self._ledger[address]
            self._ledger[address] = (started, got, sent + size)
        return True

    # --- rates ------------------------------------------------------------------------------

    def allow_request(self, address: Address, now: float) -> bool:
        """A token bucket per source host, one for proven and one for unproven addresses."""
        settings = self.settings
        if self.is_proven(address, now):
            key = "proven " + self.group(address)
            rate, burst = settings.proven_requests_per_s, settings.proven_burst
        else:
            key = self.group(address)
            rate, burst = settings.unproven_requests_per_s, settings.unproven_burst
        return self._take(key, rate, burst, now, 1.0) == 1.0

    def credit_store(self, address: Address, now: float) -> None:
        """A STORE from `address` added a valid value to what this node holds: its request is
        given back to a proven address, while its credits last (an unproven one may be forged)."""
        if not self.is_proven(address, now):
            return
        settings = self.settings
        group = self.group(address)
        credit = self._take(
            "credit " + group,
            settings.proven_store_credits_per_s,
            settings.proven_store_credit_burst,
            now,
            1.0,
        )
        if credit:
            key = "proven " + group
            rate, burst = settings.proven_requests_per_s, settings.proven_burst
            self._take(key, rate, burst, now, -credit)

    def _take(self, key: str, rate: float, burst: float, now: float, amount: float) -> float:
        """Take `amount` tokens from `key`'s bucket (a negative amount gives some back, up to
        the burst); returns what was taken: `amount`, or 0 when the bucket had too few."""
        at, tokens = self._tokens.pop(key, (now, burst))
        tokens = min(burst, tokens + (now - at) * rate)
        taken = amount if tokens >= amount else 0.0
        self._tokens[key] = (now, min(burst, tokens - taken))
        while len(self._tokens) > _MAX_TRACKED:
            self._tokens.popitem(last=False)
        return taken

    def allow_new_contact(self, address: Address, now: float) -> bool:
        """May this node try one more never-seen key from `address` this minute?"""
        settings = self.settings
        per_address = self._new_by_address.add(f"{address[0]}:{address[1]}", now)
        if per_address > settings.new_contacts_per_minute:
            return False
        if self.group(address) != address[0]:  # a loopback port standing for a host
            return True
        return self._new_by_ip.add(address[0], now) <= settings.new_contacts_per_ip_minute
