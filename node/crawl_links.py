"""What the crawler (node/crawler.py) reads in what it fetches: the links of an HTML page or
an RSS/Atom feed, URLs in one normal form so a loop is seen as one, and robots.txt.

One lenient tokenizer (stdlib `html.parser`) reads pages and feeds alike: it never expands
a document type's entities, so an XML entity bomb is text, and links are counted as they
are read, so a page of a million links costs its byte limit and no more.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from typing import Final
from urllib.parse import urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.jsonio import parse_json

__all__ = [
    "MAX_EMBEDDED",
    "MAX_LINKS_PER_PAGE",
    "MAX_URL_CHARS",
    "USER_AGENT",
    "Robots",
    "document_kind",
    "embedded_credentials",
    "extract_links",
    "json_feed_links",
    "looks_like_badge",
    "normalise",
    "not_worth_fetching",
]

USER_AGENT: Final = "BadgeChain-crawler"
MAX_URL_CHARS: Final = 2048
MAX_LINKS_PER_PAGE: Final = 1000
MAX_EMBEDDED: Final = 4  # JSON-LD credentials verified per page
# Rich-text fields of feeds hold escaped HTML whose links count too; parsed once more.
_MAX_NESTED_TEXT_CHARS: Final = 256 * 1024
_LINK_ATTRIBUTES: Final = {
    "a": ("href",),
    "area": ("href",),
    "link": ("href",),  # HTML <link rel=alternate>, Atom <link href>
    "img": ("src",),
    "source": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "iframe": ("src",),
    "enclosure": ("url",),  # RSS
    "content": ("src",),  # Atom out-of-line content
}
# Text elements whose content is a URL (RSS <link>, <guid>, <comments>) or escaped HTML.
_URL_TEXT: Final = frozenset({"link", "guid", "comments", "id"})
_HTML_TEXT: Final = frozenset({"description", "content", "summary", "content:encoded"})
_BADGE_SUFFIXES: Final = (".json", ".jsonld", ".png", ".svg", ".jwt")
_SKIPPED_SUFFIXES: Final = (
    ".css", ".js", ".mjs", ".jpg", ".jpeg", ".gif", ".webp", ".ico", ".bmp", ".avif",
    ".woff", ".woff2", ".ttf", ".otf", ".pdf", ".zip", ".gz", ".tar", ".mp3", ".mp4",
    ".webm", ".ogg", ".wav", ".mov", ".exe", ".dmg", ".iso",
)  # fmt: skip
_PAGE_TYPES: Final = frozenset({"text/html", "application/xhtml+xml"})
_FEED_TYPES: Final = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/xml",
        "text/xml",
        "application/rdf+xml",
    }
)


def normalise(url: str, base: str | None = None) -> str | None:
    """`url` (relative to `base`) in one form: http(s) only, scheme and host in lower case,
    no default port, no fragment, `/` for an empty path; None for anything else."""
    if len(url) > MAX_URL_CHARS:
        return None
    try:
        joined = urljoin(base, url.strip()) if base else url.strip()
        parts = urlsplit(joined)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host or parts.username or parts.password:
        return None
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal keeps its brackets
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    normal = urlunsplit((scheme, host, parts.path or "/", parts.query, ""))
    return normal if len(normal) <= MAX_URL_CHARS else None


def _suffix_of(url: str) -> str:
    path = urlsplit(url).path.lower()
    return path[path.rfind(".") :] if "." in path.rsplit("/", 1)[-1] else ""


def looks_like_badge(url: str) -> bool:
    """Whether the URL's name says badge file (JSON, PNG, SVG or JWT)."""
    return _suffix_of(url) in _BADGE_SUFFIXES


def not_worth_fetching(url: str) -> bool:
    """Stylesheets, scripts, photos, media and archives: never a page, a feed or a badge."""
    return _suffix_of(url) in _SKIPPED_SUFFIXES


def document_kind(media_type: str) -> str:
    """ "page", "feed" or "other" for a response's media type."""
    media = media_type.lower()
    if media in _PAGE_TYPES:
        return "page"
    if media in _FEED_TYPES:
        return "feed"
    return "other"


class _Links(HTMLParser):
    def __init__(self, base: str, limit: int, seen: set[str] | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.limit = limit
        self.found: list[str] = []
        self.seen = set() if seen is None else seen
        self.nested: list[str] = []  # escaped HTML of feed entries, read after
        self._text_of: str | None = None
        self._text: list[str] = []

    def add(self, raw: str) -> None:
        url = normalise(raw, self.base)
        if url is not None and url not in self.seen and len(self.found) < self.limit:
            self.seen.add(url)
            self.found.append(url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base":  # <base href>: later relative links resolve against it
            href = dict(attrs).get("href")
            if href:
                self.base = normalise(href, self.base) or self.base
        for name in _LINK_ATTRIBUTES.get(tag, ()):
            value = dict(attrs).get(name)
            if value:
                self.add(value)
        if tag in _URL_TEXT or tag in _HTML_TEXT:
            self._text_of, self._text = tag, []

    def handle_endtag(self, tag: str) -> None:
        if tag != self._text_of:
            return
        text = "".join(self._text).strip()
        if tag in _URL_TEXT and text.startswith(("http://", "https://")):
            self.add(text)
        elif tag in _HTML_TEXT and "<" in text:
            self.nested.append(text[:_MAX_NESTED_TEXT_CHARS])
        self._text_of, self._text = None, []

    def handle_data(self, data: str) -> None:
        if self._text_of is not None and sum(map(len, self._text)) < _MAX_NESTED_TEXT_CHARS:
            self._text.append(data)

    def unknown_decl(self, data: str) -> None:  # <![CDATA[ … ]]> in a feed
        if data.startswith("CDATA[") and self._text_of is not None:
            self.handle_data(data[len("CDATA[") :])


def extract_links(text: str, base: str, limit: int = MAX_LINKS_PER_PAGE) -> list[str]:
    """The distinct http(s) links of a page or feed, absolute and normalised, in document
    order, at most `limit`; escaped HTML in a feed's entries is read for links too."""
    parser = _Links(base, limit)
    _feed(parser, text)
    for nested in parser.nested:
        inner = _Links(parser.base, limit - len(parser.found), seen=parser.seen)
        _feed(inner, html.unescape(nested) if "&lt;" in nested else nested)
        parser.found += inner.found
    return parser.found


def json_feed_links(body: bytes, base: str, limit: int = MAX_LINKS_PER_PAGE) -> list[str] | None:
    """The links of a JSON Feed (jsonfeed.org: items' url, external_url, attachments and
    content_html); None when `body` is not one."""
    if body.lstrip()[:1] != b"{":
        return None
    try:
        feed = parse_json(body, max_bytes=len(body))
    except BadgeChainError:
        return None
    version = feed.get("version") if isinstance(feed, dict) else None
    if not isinstance(version, str) or not version.startswith("https://jsonfeed.org/version/"):
        return None
    items = feed.get("items")
    parts: list[str] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        urls = [item.get("url"), item.get("external_url")]
        attachments = item.get("attachments")
        if isinstance(attachments, list):
            urls += [a.get("url") for a in attachments if isinstance(a, dict)]
        parts += [f'<a href="{html.escape(u)}"></a>' for u in urls if isinstance(u, str)]
        if isinstance(item.get("content_html"), str):
            parts.append(item["content_html"][:_MAX_NESTED_TEXT_CHARS])
    return extract_links("".join(parts), base, limit)


class _JsonLd(HTMLParser):
    """The texts of a page's <script type="application/ld+json"> elements, `limit` at most."""

    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.limit = limit
        self.found: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        kind = (dict(attrs).get("type") or "").split(";")[0].strip().lower()
        self._inside = tag == "script" and kind == "application/ld+json"
        self._inside = self._inside and len(self.found) < self.limit
        if self._inside:
            self.found.append("")

    def handle_endtag(self, tag: str) -> None:
        self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.found[-1] += data


def embedded_credentials(text: str, limit: int = MAX_EMBEDDED) -> list[bytes]:
    """The credentials a page embeds as JSON-LD (a badge's page at /badges/{uid} does), at
    most `limit`: only objects typed VerifiableCredential, or OB 2.0 Assertion, so the
    schema.org data of a blog post is never taken for a (forged) badge."""
    parser = _JsonLd(limit)
    _feed(parser, text)
    found = []
    for block in parser.found:
        try:
            value = parse_json(block.encode(), max_bytes=len(block.encode()))
        except BadgeChainError:
            continue
        types = value.get("type") if isinstance(value, dict) else None
        named = types if isinstance(types, list) else [types]
        if "VerifiableCredential" in named or "Assertion" in named:
            found.append(block.encode())
    return found


def _feed(parser: HTMLParser, text: str) -> None:
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError):  # html.parser on some malformed markup
        pass  # the links read so far stand


class Robots:
    """One origin's robots.txt (RFC 9309) for this crawler's user agent."""

    def __init__(
        self, text: str | None, unavailable: str | None = None, code: str = "robots_unavailable"
    ) -> None:
        """`text` None: there is none (everything is allowed); `unavailable`: why it could
        not be had (a server or network error: nothing is allowed), `code` its error code."""
        self._parser = RobotFileParser()
        self._parser.parse((text or "").splitlines())  # no rules at all allow everything
        self.unavailable = unavailable
        self.code = code

    def allows(self, url: str) -> bool:
        return self.unavailable is None and self._parser.can_fetch(USER_AGENT, url)
