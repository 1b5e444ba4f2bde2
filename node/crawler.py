"""The crawler (issue 15 item 5): from start URLs it follows the links of web pages and
RSS/Atom feeds, fetches every badge file it meets (JSON, VC-JWT, baked PNG or SVG), reads
the credentials pages embed as JSON-LD (a node's badge page does), verifies each with the
node's own verifier, and reports which were valid, revoked, invalid (forged or broken) or
indeterminate, and on which pages each was linked.

Every cost is bounded: link depth, documents fetched, bytes and seconds per fetch,
seconds in all. Each URL is fetched once (normalised, redirect targets included), so a
loop ends; a slow server is cut by the fetch timeout and an endless link generator by the
page budget. robots.txt is honoured (RFC 9309). Connections follow the outbound rules of
the verifier's config (node/outbound.py): a public config reaches global addresses only.
This module walks and verifies; crawler_fetch.py fetches one document within its bounds;
crawler_report.py holds the limits and the report; crawl_links.py reads links and robots.txt.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final
from urllib.parse import urlsplit

import aiohttp

from badgechain.chain.bake import unbake
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.proof import format_created

from .crawl_links import (
    USER_AGENT,
    Robots,
    document_kind,
    embedded_credentials,
    extract_links,
    json_feed_links,
    looks_like_badge,
    not_worth_fetching,
)
from .crawler_fetch import Answer, Failure, fetch, read_robots
from .crawler_report import (
    CATEGORIES,
    CrawlError,
    CrawlLimits,
    CrawlReport,
    FoundBadge,
    category_of,
    start_urls,
)
from .outbound import client_session
from .resolvers import VerifierContext, verify_with

__all__ = [
    "CATEGORIES",
    "CrawlError",
    "CrawlLimits",
    "CrawlReport",
    "Crawler",
    "FoundBadge",
    "crawl",
    "is_badge",
]

MAX_REFERRERS: Final = 10  # pages listed per badge in the report
MAX_ORIGINS: Final = 1000  # robots.txt files held at once
MAX_KNOWN_URLS: Final = 100_000  # URLs met (queued or done): link pages cannot grow it more
MAX_REDIRECTS: Final = 3
_NOT_A_BADGE: Final = frozenset(
    {"not_baked", "format_unknown", "png_invalid", "png_truncated", "svg_invalid"}
)
_JWT: Final = re.compile(rb"ey[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


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
            badge.found_on = self.referrers.get(badge.url, badge.found_on)
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
            answer = await fetch(http, target, self.limits.fetch_bytes, self._wait_s())
            if isinstance(answer, Failure):
                report.skip(target, answer.code, answer.message)
                return
            if isinstance(answer, str):  # a redirect: its Location, normalised
                target = answer
                continue
            await self._read(report, url, depth, target, answer)
            return
        report.skip(url, "too_many_redirects", f"more than {MAX_REDIRECTS} redirects")

    async def _read(
        self, report: CrawlReport, url: str, depth: int, final: str, answer: Answer
    ) -> None:
        """Follow the links of a page or feed; verify a badge."""
        links = json_feed_links(answer.body, final)
        kind = document_kind(answer.media)
        if links is not None or kind != "other":
            if depth <= self.limits.depth:
                for link in extract_links(answer.text(), final) if links is None else links:
                    self._enqueue(link, depth + 1, url)
            if kind == "page":
                await self._verify_embedded(report, url, answer.text())
        elif is_badge(answer.body):
            report.badges.append(await self._verify(url, answer.body))

    async def _verify_embedded(self, report: CrawlReport, page: str, text: str) -> None:
        """The credentials a page embeds as JSON-LD, each reported as <page>#json-ld-<n>."""
        for number, embedded in enumerate(embedded_credentials(text), 1):
            found = await self._verify(f"{page}#json-ld-{number}", embedded)
            found.found_on = [page]  # kept: no page links to the fragment
            report.badges.append(found)

    def _wait_s(self) -> float:
        """One fetch's time: its own bound, or what is left of the crawl's."""
        return max(0.0, min(self.limits.fetch_timeout_s, self._remaining()))

    async def _refused(self, http: aiohttp.ClientSession, url: str) -> tuple[str, str] | None:
        """Why robots.txt keeps the crawler from `url` (code, message), or None."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        robots = self.robots.get(origin)
        if robots is None:
            robots = await read_robots(http, origin, self._wait_s())
            if len(self.robots) >= MAX_ORIGINS:
                self.robots.pop(next(iter(self.robots)))
            self.robots[origin] = robots
        if robots.unavailable is not None:
            return robots.code, f"robots.txt could not be had: {robots.unavailable}"
        return None if robots.allows(url) else ("robots_disallowed", "robots.txt disallows it")

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
