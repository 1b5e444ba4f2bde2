"""The signed node log over HTTP: GET /log (JSON pages) and GET /feed.atom (for crawlers).

Every page carries the signed head read together with it, so a crawler knows where the
log ends even when the storage lost its tail. Private actions are served sealed (or, for
entries written before sealing, redacted); the owner opens them at GET /admin/log/open.
The feed is Atom 1.0 (RFC 4287), built with xml.etree so that every text is escaped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any, Final
from urllib.parse import quote

from aiohttp import web

from badgechain.chain.nodelog import MAX_SEQ, LogError, canonical_bytes, check_entry

from . import feed_archive
from .nodelog import DEFAULT_PAGE, MAX_PAGE
from .problems import Problem
from .routes import Access, Answer, Route
from .web import SERVICES, json_response

__all__ = ["ATOM_NS", "FEED_ENTRIES", "ROUTES", "build_feed"]

ATOM_NS: Final = "http://www.w3.org/2005/Atom"
FEED_ENTRIES: Final = 50
_DIGITS: Final = re.compile(r"[0-9]{1,16}")  # ASCII only: str.isdigit() takes "²" too
# Actions whose subject is a badge UID (or urn:bns: + UID).
_BADGE_ACTIONS: Final = frozenset(
    {"issue", "revoke", "accept", "reject", "move", "hide", "endorse", "persona"}
)
_TITLES: Final = {
    "issue": "issued badge",
    "revoke": "revoked badge",
    "accept": "accepted badge",
    "reject": "rejected badge",
    "move": "moved badge",
    "hide": "hid badge",
    "persona": "created persona",
    "endorse": "endorsed badge",
    "collection": "created collection",
    "status-list": "updated status list",
    "sealed": "private action",
}


def _query_int(request: web.Request, name: str, low: int, high: int) -> int | None:
    """The whole number `name` of the query, None when absent."""
    text = request.query.get(name)
    if text is None:
        return None
    if not _DIGITS.fullmatch(text) or not low <= int(text) <= high:
        raise Problem(400, "query_invalid", f"{name} is a whole number from {low} to {high}")
    return int(text)


async def get_log(request: web.Request) -> web.Response:
    after = _query_int(request, "after", 0, MAX_SEQ)
    limit = _query_int(request, "limit", 1, MAX_PAGE)
    page = request.app[SERVICES].log.public_page(after, DEFAULT_PAGE if limit is None else limit)
    return json_response(page.to_json())


async def get_opening(request: web.Request) -> web.Response:
    """For the owner: what a (sealed) entry says, with the salt that proves it; without
    `seq`, the newest entry."""
    log = request.app[SERVICES].log
    seq = _query_int(request, "seq", 0, MAX_SEQ)
    if seq is None:
        head = log.head()
        seq = head.get("seq") if isinstance(head, dict) else None
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
            raise Problem(404, "log_entry_not_found", "the log has no entries")
    return json_response(log.opening(seq))


async def get_feed(request: web.Request) -> web.Response:
    node = request.app[SERVICES]
    base = (node.config.public_url or _origin(request)).rstrip("/")
    page = _query_int(request, "page", 0, MAX_SEQ)
    count = feed_archive.archive_count(node.log)  # RFC 5005 archive pages
    if page is None:
        entries = node.log.recent(FEED_ENTRIES)
        links = feed_archive.subscription_links(base, count)
    else:
        archived = feed_archive.archive_entries(node.log, page)
        if archived is None:
            raise Problem(404, "feed_page_not_found", f"archive page {page} is not complete")
        entries = archived
        links = feed_archive.archive_links(base, page, count)
    now = _now(request)
    body = build_feed(
        entries, did=node.did, base_url=base, fallback_updated=now, links=links, page=page
    )
    return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")


def _origin(request: web.Request) -> str:
    try:  # built from the client's Host header: yarl raises on a bad port or IDNA label
        return str(request.url.origin())
    except ValueError as exc:  # UnicodeError included
        raise Problem(400, "host_invalid", "the Host header names no valid host") from exc


def _now(request: web.Request) -> str:
    return request.app[SERVICES].clock().strftime("%Y-%m-%dT%H:%M:%SZ")


def build_feed(
    entries: list[Any],
    *,
    did: str,
    base_url: str,
    fallback_updated: str,
    links: list[tuple[str, str]] | None = None,
    page: int | None = None,
) -> bytes:
    """An Atom feed of `entries` (newest first); entries that are not well formed are left out.
    `links`: RFC 5005 paging links (rel, href); `page`: the archive page this is, if one."""
    good = [entry for entry in entries if _well_formed(entry)]
    feed = ET.Element("feed", xmlns=ATOM_NS)
    ET.SubElement(feed, "id").text = f"urn:badgechain:log:{did}"
    ET.SubElement(feed, "title").text = f"BadgeChain node log of {did}"
    ET.SubElement(feed, "updated").text = good[0]["at"] if good else fallback_updated
    ET.SubElement(ET.SubElement(feed, "author"), "name").text = did
    query = "" if page is None else f"?page={page}"
    ET.SubElement(feed, "link", rel="self", href=f"{base_url}/feed.atom{query}")
    for rel, href in links or ():
        ET.SubElement(feed, "link", rel=rel, href=href)
    if page is not None:  # RFC 5005 §4: an archive document says so
        ET.SubElement(feed, f"{{{feed_archive.FH_NS}}}archive")
    ET.SubElement(feed, "link", rel="alternate", type="application/json", href=f"{base_url}/log")
    for entry in good:
        feed.append(_feed_entry(entry, did, base_url))
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))


def _well_formed(entry: Any) -> bool:
    try:
        check_entry(entry)
    except LogError:
        return False
    return True


def _feed_entry(entry: dict[str, Any], did: str, base_url: str) -> ET.Element:
    item = ET.Element("entry")
    ET.SubElement(item, "id").text = f"urn:badgechain:log:{did}:{entry['seq']}"
    title = _TITLES[entry["action"]]
    if entry["action"] != "sealed":  # a commitment says nothing to a reader
        title = f"{title} {entry['subject']}"
    ET.SubElement(item, "title").text = title
    ET.SubElement(item, "updated").text = entry["at"]
    link = _subject_link(entry["action"], entry["subject"], base_url)
    if link is not None:
        ET.SubElement(item, "link", rel="related", href=link)
    # RFC 4287 wants other media types base64-encoded; plain text keeps it readable.
    content = ET.SubElement(item, "content", type="text")
    content.text = canonical_bytes(entry).decode()
    return item


def _subject_link(action: str, subject: str, base_url: str) -> str | None:
    """Where the subject can be seen: a badge, a status list or a collection."""
    if action in _BADGE_ACTIONS:
        uid = subject.removeprefix("urn:bns:")
        return f"{base_url}/badges/{quote(uid, safe='')}.json" if uid.startswith("z") else None
    if action == "status-list":
        return f"{base_url}/status/{quote(subject, safe='')}"
    if action == "collection":
        return f"{base_url}/collections/{quote(subject, safe='')}"
    return None


ROUTES: Final = (
    Route(
        "GET",
        "/log",
        get_log,
        "A page of this node's signed, hash-linked log, with its signed head",
        access=Access.PUBLIC,
        ok=Answer("LogPage"),
        query=(("after", "log_after"), ("limit", "log_limit")),
        errors=(400,),
    ),
    Route(
        "GET",
        "/feed.atom",
        get_feed,
        "The latest log entries as an Atom 1.0 feed; ?page=N an RFC 5005 archive page",
        access=Access.PUBLIC,
        ok=Answer("Binary", media="application/atom+xml"),
        query=(("page", "page"),),
        errors=(400, 404),
    ),
    Route(
        "GET",
        "/admin/log/open",
        get_opening,
        "Open a log entry (seq; the newest without) for the owner: a sealed entry's action,"
        " subject, details and salt",
        access=Access.ADMIN,
        ok=Answer("Json"),
        query=(("seq", "log_after"),),
        errors=(400, 404, 422),
    ),
)
