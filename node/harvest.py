"""Harvesting a course's feeds (issue 15 item 2): each participant's RSS 2.0, Atom or JSON
Feed is fetched (conditionally, bounded, through the node's outbound rules), its entries
read, and an entry tagged with a task's hashtag becomes a submission, once.

RSS and Atom are read by `feedparser` (well kept, and lenient where real blogs are sloppy);
JSON Feed (jsonfeed.org 1.1) is plain JSON and read here. A document type declaration
with entities is refused before any parser sees it: an entity bomb costs nothing.
Each feed's last answer (ETag, Last-Modified, error) is kept on its participant.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import html
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urljoin

import aiohttp
import feedparser

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.proof import format_created
from badgechain.storage import Kind

from . import courses
from .courses import CourseError
from .services import Services

__all__ = [
    "FeedEntry",
    "FeedError",
    "Fetched",
    "fetch_feed",
    "harvest_course",
    "last_harvest",
    "matching_tasks",
    "parse_feed",
    "read_capped",
    "request_harvest",
    "run_requested",
]

HARVEST_TOPIC: Final = "harvest"
HARVEST_INTERVAL_S: Final = 3600.0  # how often the work queue harvests each course
HARVEST_NOW_TOPIC: Final = "harvest-now"  # a harvest asked for (POST .../harvest), once
RUN_PREFIX: Final = b"course/h/"  # course/h/<course id> → the last asked-for harvest
MAX_FEED_BYTES: Final = 1024 * 1024  # a blog's feed of its last posts: far under
# feedparser is pure Python, ~2 s a MiB of elements: a count of tags bounds its work before
# it starts (a real feed of 1 MiB holds a few thousand).
MAX_XML_TAGS: Final = 40_000
MAX_ENTRIES: Final = 500  # read per feed per harvest (the newest come first in practice)
MAX_REDIRECTS: Final = 3
FEED_TIMEOUT_S: Final = 15.0  # one feed, connect to last byte
PARALLEL_FEEDS: Final = 8  # feeds read at once: a slow blog holds back no other
MAX_EXCERPT_CHARS: Final = 500
MAX_FIELD_CHARS: Final = 2048
_ENTITY_DECLARATION: Final = re.compile(rb"<!ENTITY", re.IGNORECASE)
_TAG_IN_TEXT: Final = re.compile(r"(?<![\w#&])#([A-Za-z0-9_][A-Za-z0-9_-]{0,63})")
_MARKUP: Final = re.compile(r"<[^>]{0,2000}>")
Submit = Callable[[Services, dict[str, Any]], Awaitable[None]]


class FeedError(CourseError):
    """A feed that could not be read; `code` says why (feed_unreachable, feed_too_large,
    feed_timeout, feed_http_error, feed_malformed, feed_entities_refused,
    feed_too_complex)."""

    code = "feed_malformed"


@dataclass(frozen=True, slots=True)
class Fetched:
    """A feed's answer: None body when it has not changed (304)."""

    body: bytes | None
    content_type: str
    etag: str | None
    modified: str | None


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


# --- fetching ------------------------------------------------------------------------------


async def fetch_feed(
    session: aiohttp.ClientSession, url: str, etag: str | None, modified: str | None
) -> Fetched:
    """GET `url` with the validators of its last answer; at most MAX_FEED_BYTES."""
    headers = {"Accept": "application/atom+xml, application/rss+xml, application/feed+json, */*"}
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    try:
        async with asyncio.timeout(FEED_TIMEOUT_S):
            async with session.get(url, headers=headers, max_redirects=MAX_REDIRECTS) as response:
                return await _read_answer(response)
    except TimeoutError as exc:
        raise FeedError(
            f"the feed did not answer in {FEED_TIMEOUT_S:.0f} s", code="feed_timeout"
        ) from exc
    except aiohttp.ClientConnectorError as exc:  # its OSError says why (a private address)
        raise FeedError(
            f"the feed cannot be fetched: {exc.os_error}"[:300], code="feed_unreachable"
        ) from exc
    except aiohttp.TooManyRedirects as exc:
        raise FeedError("the feed redirects too often", code="feed_unreachable") from exc
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise FeedError(
            f"the feed cannot be fetched: {exc}"[:300], code="feed_unreachable"
        ) from exc


async def _read_answer(response: aiohttp.ClientResponse) -> Fetched:
    etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
    if response.status == 304:
        return Fetched(None, "", etag, modified)
    if response.status != 200:
        raise FeedError(f"the feed answered HTTP {response.status}", code="feed_http_error")
    if (response.content_length or 0) > MAX_FEED_BYTES:
        raise FeedError(f"the feed is over {MAX_FEED_BYTES} bytes", code="feed_too_large")
    body = await read_capped(response.content, MAX_FEED_BYTES)
    if len(body) > MAX_FEED_BYTES:
        raise FeedError(f"the feed is over {MAX_FEED_BYTES} bytes", code="feed_too_large")
    return Fetched(body, response.content_type, etag, modified)


async def read_capped(content: aiohttp.StreamReader, max_bytes: int) -> bytes:
    """The body to its end, or its first `max_bytes + 1` bytes (a read returns what has
    come so far, so loop: a slow body is bounded by the caller's timeout)."""
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:
        chunk = await content.read(max_bytes + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


# --- parsing -------------------------------------------------------------------------------


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


def matching_tasks(entry: FeedEntry, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tasks whose hashtag the entry carries: as a category/tag, or #tag in its text."""
    found = {tag.lstrip("#").lower() for tag in entry.tags}
    found |= {tag.lower() for tag in _TAG_IN_TEXT.findall(f"{entry.title} {entry.text}")}
    return [task for task in tasks if task["hashtag"] in found]


# --- harvests asked for -------------------------------------------------------------------


def request_harvest(node: Services, course_id: str) -> dict[str, Any]:
    """Queue a harvest of the course now; one already waiting is the answer (asking twice
    harvests once). Returns its record: {"id", "course", "state": "queued", "requested"}."""
    courses.load_course(node.store, course_id)
    key = RUN_PREFIX + course_id.encode()
    raw = node.store.get(Kind.JOURNAL, key)
    if raw is not None and (waiting := json.loads(raw))["state"] == "queued":
        node.enqueue(HARVEST_NOW_TOPIC, course_id.encode())  # a no-op unless it was lost
        return dict(waiting)
    run = {
        "id": courses.new_id(),
        "course": course_id,
        "state": "queued",
        "requested": format_created(node.clock()),
    }
    node.store.put(Kind.JOURNAL, key, courses.dump(run))
    node.enqueue(HARVEST_NOW_TOPIC, course_id.encode())
    return run


def last_harvest(node: Services, course_id: str) -> dict[str, Any]:
    """The last asked-for harvest: queued, running, or done with its summary."""
    raw = node.store.get(Kind.JOURNAL, RUN_PREFIX + course_id.encode()[:64])
    if raw is None:
        raise CourseError(
            f"no harvest of {course_id!r:.40} was asked for", code="harvest_not_found"
        )
    found: dict[str, Any] = json.loads(raw)
    return found


async def run_requested(node: Services, course_id: str, submit: Submit) -> None:
    """Run the asked-for harvest (the queue's handler calls this): its record says running,
    then done with the summary (or the error, for a course gone)."""
    key = RUN_PREFIX + course_id.encode()
    raw = node.store.get(Kind.JOURNAL, key)
    if raw is None:
        return
    run = json.loads(raw) | {"state": "running", "started": format_created(node.clock())}
    node.store.put(Kind.JOURNAL, key, courses.dump(run))
    try:
        run["summary"] = await harvest_course(node, course_id, submit)
    except CourseError as exc:
        run["error"] = {"code": exc.code, "message": exc.message}
    run |= {"state": "done", "finished": format_created(node.clock())}
    node.store.put(Kind.JOURNAL, key, courses.dump(run))


# --- harvesting ----------------------------------------------------------------------------


async def harvest_course(node: Services, course_id: str, submit: Submit) -> dict[str, Any]:
    """Read every participant's feed once; `submit` is called for each new submission (the
    review step's auto-award). Returns counts and each failing feed's error."""
    course = courses.load_course(node.store, course_id)
    summary: dict[str, Any] = {
        "course": course_id,
        "feeds": 0,
        "new": [],
        "edited": [],
        "errors": {},
    }
    participants = courses.list_participants(node.store, course_id)
    summary["feeds"] = len(participants)
    slots = asyncio.Semaphore(PARALLEL_FEEDS)

    async def one(participant: dict[str, Any]) -> None:
        async with slots:
            try:
                await _harvest_feed(node, session, course, participant, summary, submit)
            except FeedError as exc:
                error = {"code": exc.code, "message": exc.message}
                summary["errors"][participant["id"]] = error
                _feed_state(node, participant, error=error)

    async with node.outbound.session() as session:
        await asyncio.gather(*(one(participant) for participant in participants))
    return summary


async def _harvest_feed(
    node: Services,
    session: aiohttp.ClientSession,
    course: dict[str, Any],
    participant: dict[str, Any],
    summary: dict[str, Any],
    submit: Submit,
) -> None:
    state = participant["feed_state"]
    fetched = await fetch_feed(session, participant["feed"], state["etag"], state["modified"])
    if fetched.body is not None:  # parsed in a thread: up to 1 MiB of XML holds no loop
        entries = await asyncio.to_thread(parse_feed, fetched.body, fetched.content_type)
        for parsed in entries:  # a relative link is relative to the feed
            entry = dataclasses.replace(parsed, link=urljoin(participant["feed"], parsed.link))
            for task in matching_tasks(entry, course["tasks"]):
                await _submit_entry(node, course, participant, task, entry, summary, submit)
    # A 304 need not repeat the validators (RFC 9110 §15.4.5): keep those it leaves out.
    etag, modified = fetched.etag or state["etag"], fetched.modified or state["modified"]
    _feed_state(node, participant, error=None, etag=etag, modified=modified)


def _feed_state(node: Services, participant: dict[str, Any], **changes: Any) -> None:
    state = participant["feed_state"] | changes | {"checked": format_created(node.clock())}
    courses.save_participant(node.store, participant | {"feed_state": state})


async def _submit_entry(
    node: Services,
    course: dict[str, Any],
    participant: dict[str, Any],
    task: dict[str, Any],
    entry: FeedEntry,
    summary: dict[str, Any],
    submit: Submit,
) -> None:
    """A new submission for (entry, task), or the known one updated when the entry changed."""
    key = courses.entry_key(course["id"], participant["id"], f"{task['id']}\x00{entry.entry_id}")
    known = node.store.get(Kind.JOURNAL, key)
    if known is not None:
        submission = courses.load_submission(node.store, known.decode())
        if submission["digest"] != entry.digest:
            _note_edit(node, submission, entry)
            summary["edited"].append(submission["id"])
        return
    submission = {
        "id": courses.new_submission_id(course["id"]),
        "course": course["id"],
        "task": task["id"],
        "participant": participant["id"],
        "state": "pending",
        "found": format_created(node.clock()),
        **_entry_fields(entry),
    }
    with node.store.batch() as batch:
        batch.put(Kind.JOURNAL, key, submission["id"].encode())
        batch.put(Kind.JOURNAL, courses.submission_key(submission["id"]), courses.dump(submission))
    summary["new"].append(submission["id"])
    if task.get("auto_award"):
        await submit(node, submission)


def _entry_fields(entry: FeedEntry) -> dict[str, Any]:
    return {
        "entry": entry.entry_id,
        "link": entry.link,
        "title": entry.title,
        "excerpt": entry.text[:MAX_EXCERPT_CHARS],
        "digest": entry.digest,
    }


def _note_edit(node: Services, submission: dict[str, Any], entry: FeedEntry) -> None:
    """A pending submission takes the edit; an awarded or declined one records that it was
    edited afterwards (its badge's evidence is the post's URL, which still names it)."""
    edited = {"edited": format_created(node.clock())}
    if submission["state"] == "pending":
        courses.save_submission(node.store, submission | _entry_fields(entry) | edited)
    else:
        courses.save_submission(
            node.store, submission | {"digest": entry.digest, "edited_after_review": True} | edited
        )
