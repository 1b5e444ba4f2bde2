"""What a crawl (node/crawler.py) is given and what it gives back: its limits, checked;
its start URLs, normalised; and its report of the badges it found, each sorted into one of
CATEGORIES by the verifier's report, with what was skipped and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from badgechain.chain.report import Report

from .crawl_links import normalise
from .errors import NodeError

__all__ = [
    "CATEGORIES",
    "MAX_START_URLS",
    "CrawlError",
    "CrawlLimits",
    "CrawlReport",
    "FoundBadge",
    "category_of",
    "start_urls",
]

CATEGORIES: Final = ("valid", "revoked", "invalid", "indeterminate")
MAX_START_URLS: Final = 100
MAX_SKIPPED: Final = 1000  # URLs not crawled listed in the report (all are counted)
_REVOKED_CODES: Final = frozenset({"revoked", "status_revoked"})


class CrawlError(NodeError):
    code = "crawl_invalid"  # 400


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
    """A verifier's report as one of CATEGORIES: a revocation is told from other failures."""
    failed = report.failed
    if failed is not None and failed.code in _REVOKED_CODES:
        return "revoked"
    return report.verdict
