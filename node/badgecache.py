"""The badge GET /verify/{uid} fetches from its BNS location, kept as HTTP says it may be.

A copy is reused while its `Cache-Control: max-age` lasts (at most MAX_AGE_CAP_S), then asked
again with its validators (`If-None-Match`, `If-Modified-Since`), so an unchanged badge costs
a 304 and no body. What a location serves is checked to name the UID before it is kept.
Which locations to ask always comes from the BNS record (node/bns cache), so a move or a hide
is followed as soon as the BNS answer shows it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import aiohttp

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.resolve import Unreachable
from badgechain.chain.uid import Uid

from .badgestore import credential_uid
from .fetchers import credential_of
from .outbound import client_session, host_map, shown_url, why_unreachable
from .resolvers import MAX_BADGE_BYTES, FetchError, NodeBns, NotPublished
from .services import Services

__all__ = ["MAX_AGE_CAP_S", "MAX_COPIES", "BadgeCache", "badge_cache_of"]

MAX_AGE_CAP_S: Final = 60.0  # however long a location says a copy stays fresh
MAX_COPIES: Final = 1024  # badge bodies kept (oldest out): at most 1 GiB in theory, KiBs in use
_CHUNK_BYTES: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class _Copy:
    body: bytes
    etag: str | None
    last_modified: str | None
    fresh_until: float  # on the cache's clock


def _max_age(cache_control: str) -> float | None:
    """Seconds a copy stays fresh by `Cache-Control`; None: do not keep it (no-store)."""
    age = 0.0
    for part in cache_control.lower().split(","):
        name, _, value = part.strip().partition("=")
        if name in ("no-store", "private"):
            return None
        if name == "no-cache":
            return 0.0
        if name == "max-age" and value.strip().isdigit():
            age = min(float(value.strip()), MAX_AGE_CAP_S)
    return age


def _names_uid(body: bytes, uid: Uid) -> bool:
    """Whether `body` (JSON, or an OB 3.0 credential baked in PNG or SVG) is the badge `uid`."""
    credential = credential_of(body)
    try:
        return credential is not None and credential_uid(credential) == uid
    except BadgeChainError:
        return False


class BadgeCache:
    """Badge bodies by UID and location URL (a URL may serve another badge later); `clock`
    (seconds, monotonic) times their freshness."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._copies: OrderedDict[tuple[Uid, str], _Copy] = OrderedDict()

    async def fetch(self, node: Services, uid: Uid) -> bytes:
        """The badge of `uid` from one of its BNS locations, as node.resolvers'
        fetch_badge_by_uid answers it: the same errors for the same failures."""
        answer = await NodeBns(node).resolve(uid)
        if answer.urls is None:
            raise NotPublished("the badge's earner has published no location for it")
        if not answer.urls:
            raise NotPublished("the badge's earner has hidden it", code="badge_hidden")
        failures: list[BadgeChainError] = []
        for url in answer.urls:
            try:
                body = await self._get(node, url, uid)
            except BadgeChainError as exc:
                failures.append(exc)
                continue
            if body is not None:
                return body
            failures.append(
                FetchError(f"{shown_url(url)} does not serve this badge", code="location_invalid")
            )
        detail = "; ".join(failure.message for failure in failures)
        if all(isinstance(failure, Unreachable) for failure in failures):
            raise Unreachable(
                f"no location of the badge answered: {detail}", code="location_unreachable"
            )
        raise FetchError(f"no location serves the badge: {detail}", code="location_invalid")

    async def _get(self, node: Services, url: str, uid: Uid) -> bytes | None:
        """The badge at `url`: the fresh copy, or asked again (with validators when held)."""
        copy = self._copies.get((uid, url))
        if copy is not None and self.clock() < copy.fresh_until:
            self._copies.move_to_end((uid, url))
            return copy.body
        headers = {"Accept-Encoding": "identity"}
        if copy is not None and copy.etag:
            headers["If-None-Match"] = copy.etag
        if copy is not None and copy.last_modified:
            headers["If-Modified-Since"] = copy.last_modified
        session = client_session(
            node.config,
            timeout=aiohttp.ClientTimeout(total=node.settings.fetch_timeout_s),
            auto_decompress=False,
        )
        async with session:
            return await self._ask(session, node, url, uid, copy, headers)

    async def _ask(
        self,
        session: aiohttp.ClientSession,
        node: Services,
        url: str,
        uid: Uid,
        copy: _Copy | None,
        headers: dict[str, str],
    ) -> bytes | None:
        try:
            async with session.get(
                host_map(node.config).to_local(url), allow_redirects=False, headers=headers
            ) as response:
                if response.status == 304 and copy is not None:
                    return self._keep((uid, url), copy.body, response.headers, copy)
                self._copies.pop((uid, url), None)
                if response.status in (404, 410):
                    return None
                if response.status >= 500:
                    raise Unreachable(f"{shown_url(url)} answered HTTP {response.status}")
                if response.status != 200:
                    raise FetchError(f"{shown_url(url)} answered HTTP {response.status}")
                body = await _read_bounded(response, url)
                if not _names_uid(body, uid):
                    return None
                return self._keep((uid, url), body, response.headers, None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unreachable(f"{shown_url(url)}: {why_unreachable(exc)}") from exc

    def _keep(
        self, key: tuple[Uid, str], body: bytes, headers: Mapping[str, str], old: _Copy | None
    ) -> bytes:
        age = _max_age(headers.get("Cache-Control", ""))
        etag = headers.get("ETag") or (old.etag if old else None)
        modified = headers.get("Last-Modified") or (old.last_modified if old else None)
        if age is None or not (etag or modified or age > 0):
            return body  # nothing to reuse it by
        self._copies[key] = _Copy(body, etag, modified, self.clock() + age)
        self._copies.move_to_end(key)
        while len(self._copies) > MAX_COPIES:
            self._copies.popitem(last=False)
        return body


async def _read_bounded(response: aiohttp.ClientResponse, url: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
        size += len(chunk)
        if size > MAX_BADGE_BYTES:
            raise FetchError(
                f"{shown_url(url)} sent over {MAX_BADGE_BYTES} bytes", code="fetch_too_large"
            )
        chunks.append(chunk)
    return b"".join(chunks)


_caches: OrderedDict[str, BadgeCache] = OrderedDict()
_MAX_NODES: Final = 16  # nodes in this process with a cache (tests run many)


def badge_cache_of(node: Services) -> BadgeCache:
    """The node's badge cache (made on first use)."""
    name = f"{node.did} {node.home}"
    cache = _caches.get(name)
    if cache is None:
        cache = _caches[name] = BadgeCache()
        while len(_caches) > _MAX_NODES:
            _caches.popitem(last=False)
    return cache
