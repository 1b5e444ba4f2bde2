"""Reading a fetched feed's entries for a harvest (node/harvest.py): RSS 2.0 and Atom by
`feedparser` (well kept, and lenient where real blogs are sloppy), JSON Feed (jsonfeed.org
1.1) as bounded JSON here; and which of a course's tasks an entry's hashtags name.

A document type declaration with entities is refused before any parser sees it (an entity
bomb costs nothing), and a count of tags bounds feedparser's work before it starts.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import feedparser

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.jsonio import parse_json

from .course_records import CourseTask
from .harvest_fetch import MAX_FEED_BYTES, FeedError

__all__ = ["MAX_ENTRIES", "FeedEntry", "matching_tasks", "parse_feed"]

# feedparser is pure Python, ~2 s a MiB of elements: a count of tags bounds its work before
# it starts (a real feed of 1 MiB holds a few thousand).
MAX_XML_TAGS: Final = 40_000
MAX_ENTRIES: Final = 500  # read per feed per harvest (the newest come first in practice)
MAX_FIELD_CHARS: Final = 2048
_ENTITY_DECLARATION: Final = re.compile(rb"<!ENTITY", re.IGNORECASE)
_TAG_IN_TEXT: Final = re.compile(r"(?<![\w#&])#([A-Za-z0-9_][A-Za-z0-9_-]{0,63})")
_MARKUP: Final = re.compile(r"<[^>]{0,2000}>")


@dataclass(frozen=True, slots=True)
class FeedEntry:
    entry_id: str
    link: str
    title: str
    text: str  # markup removed
    tags: tuple[str, ...]

    @property
    def digest(self) -> str:
        """What an edit changes: title, link, text and tags."""
        parts = "\x00".join((self.title, self.link, self.text, *self.tags))
        return hashlib.sha256(parts.encode()).hexdigest()


def parse_feed(body: bytes, content_type: str = "") -> list[FeedEntry]:
    """The entries of an RSS 2.0, Atom or JSON Feed document (at most MAX_ENTRIES)."""
    if "json" in content_type or body.lstrip()[:1] == b"{":
        return _json_feed(body)
    if _ENTITY_DECLARATION.search(body):
        raise FeedError("the feed declares XML entities; refused", code="feed_entities_refused")
    if body.count(b"<") > MAX_XML_TAGS:
        raise FeedError(f"the feed has over {MAX_XML_TAGS} tags", code="feed_too_complex")
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    if not parsed.entries and (parsed.bozo or not parsed.version):
        reason = parsed.get("bozo_exception", "not RSS or Atom")
        raise FeedError(f"the feed cannot be read: {reason}"[:300], code="feed_malformed")
    return [_xml_entry(entry) for entry in parsed.entries[:MAX_ENTRIES]]


def _xml_entry(entry: Any) -> FeedEntry:
    content = " ".join(part.get("value", "") for part in entry.get("content", []))
    text = content or entry.get("summary", "")
    tags = tuple(str(tag.get("term", "")) for tag in entry.get("tags", []))
    link = str(entry.get("link", ""))
    return _entry(str(entry.get("id") or link), link, str(entry.get("title", "")), text, tags)


def _json_feed(body: bytes) -> list[FeedEntry]:
    try:
        document = parse_json(body, max_bytes=MAX_FEED_BYTES)
    except BadgeChainError as exc:
        raise FeedError(
            f"the JSON Feed cannot be read: {exc.message}", code="feed_malformed"
        ) from exc
    items = document.get("items") if isinstance(document, dict) else None
    version = document.get("version", "") if isinstance(document, dict) else ""
    if not isinstance(items, list) or not str(version).startswith("https://jsonfeed.org/version/"):
        raise FeedError("not a JSON Feed (version and items)", code="feed_malformed")
    return [_json_entry(item) for item in items[:MAX_ENTRIES] if isinstance(item, dict)]


def _json_entry(item: dict[str, Any]) -> FeedEntry:
    def text_of(name: str) -> str:
        value = item.get(name)
        return value if isinstance(value, str) else ""

    tags = item.get("tags")
    tag_list = tuple(tag for tag in tags if isinstance(tag, str)) if isinstance(tags, list) else ()
    link = text_of("url")
    body = text_of("content_text") or text_of("content_html") or text_of("summary")
    return _entry(text_of("id") or link, link, text_of("title"), body, tag_list)


def _entry(entry_id: str, link: str, title: str, text: str, tags: tuple[str, ...]) -> FeedEntry:
    plain = html.unescape(_MARKUP.sub(" ", text[: MAX_FEED_BYTES // 4]))
    return FeedEntry(
        entry_id[:MAX_FIELD_CHARS],
        link[:MAX_FIELD_CHARS],
        " ".join(title.split())[:MAX_FIELD_CHARS],
        " ".join(plain.split()),
        tuple(tag[:100] for tag in tags[:50]),
    )


def matching_tasks(entry: FeedEntry, tasks: Iterable[CourseTask]) -> list[CourseTask]:
    """The tasks whose hashtag the entry carries: as a category/tag, or #tag in its text."""
    found = {tag.lstrip("#").lower() for tag in entry.tags}
    found |= {tag.lower() for tag in _TAG_IN_TEXT.findall(f"{entry.title} {entry.text}")}
    return [task for task in tasks if task["hashtag"] in found]
