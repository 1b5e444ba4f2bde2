"""Archived pages of the node's Atom feed (RFC 5005 §4), so a crawler can read the whole
log through /feed.atom and not only its newest entries.

Archive page k holds log entries k·ARCHIVE_ENTRIES to (k+1)·ARCHIVE_ENTRIES - 1, once all of
them are written: a page never changes after it appears, so a crawler fetches it once. The
subscription feed (/feed.atom) keeps the newest entries and links the newest archive page
(`prev-archive`); each archive page links its neighbours and the subscription feed.
"""

from __future__ import annotations

from typing import Any, Final

from .nodelog import NodeLog

__all__ = [
    "ARCHIVE_ENTRIES",
    "FH_NS",
    "archive_count",
    "archive_entries",
    "archive_links",
    "subscription_links",
]

ARCHIVE_ENTRIES: Final = 50
FH_NS: Final = "http://purl.org/syndication/history/1.0"  # RFC 5005's <fh:archive/>


def archive_count(log: NodeLog) -> int:
    """How many archive pages are complete (the log's entries are numbered from 0)."""
    head = log.head()
    seq = head.get("seq") if isinstance(head, dict) else None
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return 0
    return (seq + 1) // ARCHIVE_ENTRIES


def archive_entries(log: NodeLog, page: int) -> list[Any] | None:
    """The entries of archive page `page`, newest first; None for a page not complete."""
    if not 0 <= page < archive_count(log):
        return None
    after = page * ARCHIVE_ENTRIES - 1 if page else None
    return list(reversed(log.public_page(after, ARCHIVE_ENTRIES).entries))


def _page_url(base_url: str, page: int) -> str:
    return f"{base_url}/feed.atom?page={page}"


def subscription_links(base_url: str, count: int) -> list[tuple[str, str]]:
    """The subscription feed's paging links: the newest archive page, when there is one."""
    return [("prev-archive", _page_url(base_url, count - 1))] if count else []


def archive_links(base_url: str, page: int, count: int) -> list[tuple[str, str]]:
    """An archive page's links: itself, the subscription feed, and its neighbours."""
    links = [("current", f"{base_url}/feed.atom")]
    if page > 0:
        links.append(("prev-archive", _page_url(base_url, page - 1)))
    if page + 1 < count:
        links.append(("next-archive", _page_url(base_url, page + 1)))
    return links
