"""The verified status lists a node keeps by URL (node/resolvers.py), each until its own
freshness ends: min(validUntil, fetched + ttl), or NodeSettings.status_cache_default_s for a
list that gives neither."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.statuslist import CheckedList, StatusListError

from .fetchers import MAX_STATUS_LIST_BYTES

__all__ = [
    "MAX_CACHED_LISTS",
    "CachedList",
    "fresh_list",
    "fresh_until",
    "keep_list",
    "list_document",
]

# Anyone can sign lists at URLs of their own, so the cache holds at most this many (oldest out).
MAX_CACHED_LISTS: Final = 512
# Single gets and pops are atomic under the GIL; eviction iterates, so writers take the lock
# (worker threads of several verifications share a node's cache).
_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class CachedList:
    checked: CheckedList
    fresh_until: datetime


def fresh_list(cache: dict[str, CachedList], url: str, now: datetime) -> CheckedList | None:
    """The cached list at `url` while fresh; a stale one is dropped, never answered from."""
    cached = cache.get(url)
    if cached is not None and now < cached.fresh_until:
        return cached.checked
    cache.pop(url, None)
    return None


def keep_list(cache: dict[str, CachedList], url: str, cached: CachedList) -> None:
    """Keep a checked list, the oldest out beyond MAX_CACHED_LISTS."""
    with _LOCK:
        while len(cache) >= MAX_CACHED_LISTS:
            cache.pop(next(iter(cache)), None)
        cache[url] = cached


def list_document(body: bytes) -> dict[str, Any]:
    """A fetched status list's JSON object, or StatusListError."""
    try:
        document = parse_json(body, max_bytes=MAX_STATUS_LIST_BYTES)
    except BadgeChainError as exc:
        raise StatusListError(f"the status list is not JSON: {exc.message}") from exc
    if not isinstance(document, dict):
        raise StatusListError("the status list is not a JSON object")
    return document


def fresh_until(document: dict[str, Any], fetched: datetime, default: timedelta) -> datetime:
    """min(validUntil, fetched + ttl), the list's own bounds on how long to trust a copy
    (`default` for a list that gives neither)."""
    subject = document.get("credentialSubject")
    ttl = subject.get("ttl") if isinstance(subject, dict) else None
    bounds = [fetched + default]
    if isinstance(ttl, int) and not isinstance(ttl, bool) and ttl >= 0:
        bounds = [fetched + timedelta(milliseconds=min(ttl, 86_400_000))]
    until = document.get("validUntil")
    if isinstance(until, str):
        try:
            bounds.append(datetime.fromisoformat(until))
        except ValueError:
            return fetched
    return min(bounds)
