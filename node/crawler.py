"""The crawler (issue 15 item 5): from start URLs it follows the links of web pages and
RSS/Atom feeds, fetches every badge file it meets (JSON, VC-JWT, baked PNG or SVG),
verifies each with the node's own verifier, and reports which were valid, revoked,
invalid (forged or broken) or indeterminate, and on which pages each was linked.

Every cost is bounded: link depth, documents fetched, bytes and seconds per fetch,
seconds in all. Each URL is fetched once (normalised, redirect targets included), so a
loop ends; a slow server is cut by the fetch timeout and an endless link generator by the
page budget. robots.txt is honoured (RFC 9309). Connections follow the outbound rules of
the verifier's config (node/outbound.py): a public config reaches global addresses only.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp

from badgechain.chain.bake import unbake
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.proof import format_created
from badgechain.chain.report import Report

from .crawl_links import (
    USER_AGENT,
    Robots,
    document_kind,
    extract_links,
    json_feed_links,
    looks_like_badge,
    normalise,
    not_worth_fetching,
)
from .outbound import client_session, refused_address
from .resolvers import VerifierContext, verify_with

__all__ = ["CATEGORIES", "CrawlLimits", "CrawlReport", "Crawler", "FoundBadge", "crawl"]

CATEGORIES: Final = ("valid", "revoked", "invalid", "indeterminate")
MAX_START_URLS: Final = 100
MAX_REFERRERS: Final = 10  # pages listed per badge in the report
MAX_SKIPPED: Final = 1000  # URLs not crawled listed in the report (all are counted)
MAX_ORIGINS: Final = 1000  # robots.txt files held at once
MAX_KNOWN_URLS: Final = 100_000  # URLs met (queued or done): link pages cannot grow it more
MAX_ROBOTS_BYTES: Final = 512 * 1024  # RFC 9309 asks crawlers to read at least 500 KiB
MAX_REDIRECTS: Final = 3
_REVOKED_CODES: Final = frozenset({"revoked", "status_revoked"})
_NOT_A_BADGE: Final = frozenset(
    {"not_baked", "format_unknown", "png_invalid", "png_truncated", "svg_invalid"}
)
# robots.txt answers meaning "none here" (RFC 9309: crawl freely), unlike server errors.
_NO_ROBOTS: Final = frozenset({"fetch_not_found", "fetch_failed", "fetch_too_large"})
_OWN_CODE: Final = frozenset({"fetch_address_refused"})  # the outbound rules', not the site's
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_JWT: Final = re.compile(rb"ey[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class CrawlError(BadgeChainError):
    code = "crawl_invalid"
    http_status = 400


@dataclass(frozen=True, slots=True)
class CrawlLimits:
    """How far a crawl goes: `depth` links from a start URL (a badge file linked from the
    deepest page is still fetched), `pages` documents fetched in all (robots.txt aside),
    `fetch_bytes` and `fetch_timeout_s` per fetch, `seconds` for the whole crawl."""

    depth: int = 3
    pages: int = 200
    seconds: float = 300.0
    fetch_bytes: int = 4 * 1024 * 1024
    fetch_timeout_s: float = 10.0
    verify_timeout_s: float = 60.0

    def check(self) -> None:
        """Raise CrawlError (`crawl_limits_invalid`) for limits out of their range."""
        ranges = {
            "depth": (self.depth, 0, 20),
            "pages": (self.pages, 1, 100_000),
            "seconds": (self.seconds, 0.1, 86_400),
            "fetch_bytes": (self.fetch_bytes, 1024, 16 * 1024 * 1024),
            "fetch_timeout_s": (self.fetch_timeout_s, 0.1, 300),
            "verify_timeout_s": (self.verify_timeout_s, 0.1, 600),
        }
        for name, (value, low, high) in ranges.items():
            if not low <= value <= high:
                raise CrawlError(
                    f"{name} is {value}; it must be from {low} to {high}",
                    code="crawl_limits_invalid",
                )


@dataclass(slots=True)
class FoundBadge:
    """A badge file met on the crawl and its verdict (one of CATEGORIES)."""

    url: str
    found_on: list[str]
    category: str
    uid: str | None
    format: str
    code: str  # the first failed check's code ("ok" for a valid badge)
    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class CrawlReport:
    start_urls: list[str]
    limits: CrawlLimits
    started: str = ""
    finished: str = ""
    stopped: str = "done"  # or "max_pages", "max_seconds": a budget ended the crawl
    fetched: int = 0
    badges: list[FoundBadge] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    skipped_count: int = 0

    def counts(self) -> dict[str, int]:
        return {name: sum(b.category == name for b in self.badges) for name in CATEGORIES}

    def skip(self, url: str, code: str, message: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_SKIPPED:
            self.skipped.append({"url": url, "code": code, "message": message[:300]})

    def to_json(self) -> dict[str, Any]:
        return {
            "start_urls": self.start_urls,
            "limits": asdict(self.limits),
            "started": self.started,
            "finished": self.finished,
            "stopped": self.stopped,
            "fetched": self.fetched,
            "counts": self.counts(),
            "badges": [badge.to_json() for badge in self.badges],
            "skipped_count": self.skipped_count,
            "skipped": self.skipped,
        }


def start_urls(urls: Sequence[str]) -> list[str]:
    """The start URLs normalised; CrawlError (`crawl_start_invalid`) for one that is not an
    http(s) URL, or for none or too many."""
    if not 1 <= len(urls) <= MAX_START_URLS:
        raise CrawlError(f"give 1 to {MAX_START_URLS} start URLs", code="crawl_start_invalid")
    normal = []
    for url in urls:
        one = normalise(url)
        if one is None:
            raise CrawlError(f"{url:.100} is not an http(s) URL", code="crawl_start_invalid")
        normal.append(one)
    return list(dict.fromkeys(normal))


def category_of(report: Report) -> str:
    failed = report.failed
    if failed is not None and failed.code in _REVOKED_CODES:
        return "revoked"
    return report.verdict


def is_badge(body: bytes) -> bool:
    """Whether fetched bytes are a badge to verify: a baked image, a JSON-LD or OB 2.0
    object, or a compact JWS. Photos without a badge, and other JSON, are not."""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body.startswith(b"\x89PNG") or head.startswith(b"<"):
        try:
            unbake(body)
        except BadgeChainError as exc:
            return exc.code not in _NOT_A_BADGE
        return True
    if head.startswith(b"{"):
        try:
            value = parse_json(body)
        except BadgeChainError:
            return False
        return isinstance(value, dict) and ("@context" in value or "type" in value)
    return _JWT.fullmatch(head.rstrip()) is not None


async def crawl(
    context: VerifierContext, urls: Sequence[str], limits: CrawlLimits | None = None
) -> CrawlReport:
    """Crawl from `urls` within `limits`; see the module's docstring."""
    limits = limits or CrawlLimits()
    limits.check()
    return await Crawler(context, limits).run(start_urls(urls))


class Crawler:
    """One crawl: breadth first, one fetch at a time (polite to the sites it reads)."""

    def __init__(
        self,
        context: VerifierContext,
        limits: CrawlLimits,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.context = context
        self.limits = limits
        self.monotonic = monotonic
        self.deadline = 0.0
        self.queue: deque[tuple[str, int]] = deque()
        self.referrers: dict[str, list[str]] = {}  # every URL met, with pages linking it
        self.visited: set[str] = set()  # fetched, or reached by a redirect
        self.robots: dict[str, Robots] = {}

    async def run(self, urls: list[str]) -> CrawlReport:
        report = CrawlReport(urls, self.limits, started=format_created(self.context.clock()))
        self.deadline = self.monotonic() + self.limits.seconds
        for url in urls:
            self._enqueue(url, 0, None)
        timeout = aiohttp.ClientTimeout(total=self.limits.fetch_timeout_s)
        headers = {"User-Agent": USER_AGENT}
        async with client_session(self.context.config, timeout=timeout, headers=headers) as http:
            while self.queue:
                if report.fetched >= self.limits.pages:
                    report.stopped = "max_pages"
                    break
                if self._remaining() <= 0:
                    report.stopped = "max_seconds"
                    break
                url, depth = self.queue.popleft()
                await self._visit(http, report, url, depth)
        for badge in report.badges:
            badge.found_on = self.referrers.get(badge.url, [])
        report.finished = format_created(self.context.clock())
        return report

    def _remaining(self) -> float:
        return self.deadline - self.monotonic()

    def _enqueue(self, url: str, depth: int, referrer: str | None) -> None:
        known = self.referrers.get(url)
        if known is None:
            if len(self.referrers) >= MAX_KNOWN_URLS or not_worth_fetching(url):
                return
            if depth > self.limits.depth and not looks_like_badge(url):
                return
            known = self.referrers[url] = []
            self.queue.append((url, depth))
        if referrer is not None and referrer not in known and len(known) < MAX_REFERRERS:
            known.append(referrer)

    async def _visit(
        self, http: aiohttp.ClientSession, report: CrawlReport, url: str, depth: int
    ) -> None:
        """Fetch `url`, following redirects one hop at a time so that each target is
        checked against robots.txt and the URLs visited before it is fetched."""
        target = url
        for hop in range(MAX_REDIRECTS + 1):
            if target in self.visited:  # reached before (by a link or another redirect)
                if hop:
                    report.skip(url, "redirect_skipped", f"redirected to {target:.200}, seen")
                return
            self.visited.add(target)
            refused = await self._refused(http, target)
            if refused is not None:
                report.skip(target, *refused)
                return
            report.fetched += 1
            answer = await self._get(http, target, self.limits.fetch_bytes)
            if isinstance(answer, _Failure):
                report.skip(target, answer.code, answer.message)
                return
            if isinstance(answer, str):  # a redirect: its Location, normalised
                target = answer
                continue
            await self._read(report, url, depth, target, answer)
            return
        report.skip(url, "too_many_redirects", f"more than {MAX_REDIRECTS} redirects")

    async def _read(
        self, report: CrawlReport, url: str, depth: int, final: str, answer: _Answer
    ) -> None:
        """Follow the links of a page or feed; verify a badge."""
        links = json_feed_links(answer.body, final)
        if links is not None or document_kind(answer.media) != "other":
            if depth <= self.limits.depth:
                for link in extract_links(answer.text(), final) if links is None else links:
                    self._enqueue(link, depth + 1, url)
        elif is_badge(answer.body):
            report.badges.append(await self._verify(url, answer.body))

    async def _get(
        self, http: aiohttp.ClientSession, url: str, max_bytes: int, redirects: int = 0
    ) -> _Answer | str | _Failure:
        """A 200 answer, the next URL of a redirect (when `redirects` is 0: aiohttp follows
        that many itself), or why neither; within the fetch timeout and `max_bytes`."""
        wait_s = max(0.0, min(self.limits.fetch_timeout_s, self._remaining()))
        follow, most = redirects > 0, max(redirects, 1)
        try:
            async with (
                asyncio.timeout(wait_s),
                http.get(url, allow_redirects=follow, max_redirects=most) as response,
            ):
                if response.status in _REDIRECTS and not redirects:
                    location = normalise(response.headers.get("Location", ""), url)
                    return location or _Failure("redirect_invalid", "a redirect to no http(s) URL")
                if response.status != 200:
                    return _Failure(_status_code(response.status), f"HTTP {response.status}")
                body = await _read_bounded(response, max_bytes)
                if body is None:
                    return _Failure("fetch_too_large", f"over {max_bytes} bytes")
                return _Answer(body, response.content_type, response.charset)
        except TimeoutError:
            return _Failure("fetch_timeout", f"no complete answer within {wait_s:.1f} s")
        except aiohttp.ClientError as exc:
            code = "fetch_address_refused" if refused_address(exc) else "fetch_unreachable"
            return _Failure(code, f"{type(exc).__name__}: {exc}"[:300])

    async def _refused(self, http: aiohttp.ClientSession, url: str) -> tuple[str, str] | None:
        """Why robots.txt keeps the crawler from `url` (code, message), or None."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        robots = self.robots.get(origin)
        if robots is None:
            robots = await self._read_robots(http, origin)
            if len(self.robots) >= MAX_ORIGINS:
                self.robots.pop(next(iter(self.robots)))
            self.robots[origin] = robots
        if robots.unavailable is not None:
            return robots.code, f"robots.txt could not be had: {robots.unavailable}"
        return None if robots.allows(url) else ("robots_disallowed", "robots.txt disallows it")

    async def _read_robots(self, http: aiohttp.ClientSession, origin: str) -> Robots:
        """RFC 9309: a 4xx (none there) allows everything; a server or network error
        allows nothing; more than 5 redirects count as none there."""
        got = await self._get(http, origin + "/robots.txt", MAX_ROBOTS_BYTES, redirects=5)
        if isinstance(got, _Failure) and got.code in _OWN_CODE:
            return Robots(None, got.message, got.code)
        if isinstance(got, _Failure):
            return Robots(None) if got.code in _NO_ROBOTS else Robots(None, got.message)
        return Robots(got.text() if isinstance(got, _Answer) else None)

    async def _verify(self, url: str, body: bytes) -> FoundBadge:
        wait_s = max(0.1, min(self.limits.verify_timeout_s, self._remaining()))
        try:
            async with asyncio.timeout(wait_s):
                report = await verify_with(self.context, body)
        except TimeoutError:
            message = f"not verified within {wait_s:.1f} s"
            return FoundBadge(url, [], "indeterminate", None, "unknown", "verify_timeout", message)
        failed = report.failed or next((c for c in report.checks if c.blocking), None)
        code, message = (failed.code, failed.message) if failed else ("ok", "verified")
        return FoundBadge(
            url, [], category_of(report), report.uid, report.format, code, message[:300]
        )


def _status_code(status: int) -> str:
    if status in (404, 410):
        return "fetch_not_found"
    return "fetch_server_error" if status >= 500 else "fetch_failed"


async def _read_bounded(response: aiohttp.ClientResponse, max_bytes: int) -> bytes | None:
    """The body, or None once it passes `max_bytes` (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class _Answer:
    body: bytes
    media: str
    charset: str | None

    def text(self) -> str:
        """The body as text in its declared charset (UTF-8 when none, or none known)."""
        try:
            return self.body.decode(self.charset or "utf-8", errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why a fetch brought no document."""

    code: str
    message: str
