"""W3C Webmention (https://www.w3.org/TR/webmention/), both ways (issue 15 item 4).

Send (§3.1): when a course awards a badge, the badge's page (source) mentions the post
(target). Sending is queued work (topic "webmention", node/work.py): discover the target's
endpoint (§3.1.2: the HTTP Link header first, then the first HTML <link> or <a> with
rel="webmention", resolved against the target's URL), then POST source and target as a form.
No endpoint is an answer, not a failure; a 4xx is final; a network error or 5xx is retried.

Receive (§3.2): POST /webmention names a source and a target; the target must be a badge
page of this node (checked at once), then the request is rate-limited (per source host and
overall) and queued (topic "webmention-in", at most MAX_PENDING waiting) and answered 202
(§3.2.1: verification is asynchronous). The queue fetches the source, which must link to the
target (§3.2.2), before the mention is kept. Journal: webmention/out/<sha256> → {"uid",
"target", ...}; webmention/rx/<time, sha256(source, target)> → a received request and its
outcome (kept a day); webmention/in/<UID>/<sha256(source)> → {"source", "target", "verified"}.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from html.parser import HTMLParser
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import aiohttp

from badgechain.chain.errors import BadgeChainError, DecodeError
from badgechain.chain.proof import format_created
from badgechain.chain.uid import Uid, parse_uid, uid_text
from badgechain.storage import Kind

from .badgestore import load_badge
from .course_limits import WEBMENTIONS
from .courses import CourseError
from .harvest_fetch import read_capped
from .outbound import refused_address, why_unreachable
from .records import Mention, WebmentionReceived, WebmentionSent
from .services import Services

__all__ = [
    "RECEIVE_TOPIC",
    "SEND_TOPIC",
    "WebmentionError",
    "accept",
    "badge_page",
    "discover_endpoint",
    "mentions",
    "queue_send",
    "receive",
    "received",
    "send",
    "sent",
    "verify_received",
]

log = logging.getLogger(__name__)

SEND_TOPIC: Final = "webmention"
RECEIVE_TOPIC: Final = "webmention-in"
OUT_PREFIX: Final = b"webmention/out/"
RX_PREFIX: Final = b"webmention/rx/"
MAX_PENDING: Final = 1000  # received Webmentions waiting for verification: then 503
RECEIVED_KEPT_S: Final = 86_400.0  # a received Webmention's record (its status URL) is kept
PRUNE_PER_REQUEST: Final = 4
IN_PREFIX: Final = b"webmention/in/"
MAX_PAGE_BYTES: Final = 1024 * 1024  # a target page read for its endpoint, a source read
MAX_URL_CHARS: Final = 2048
MAX_MENTIONS: Final = 1000  # kept per badge
MAX_REDIRECTS: Final = 3
_HTTP_URL: Final = re.compile(r"https?://[^\s]{1,2040}")


class WebmentionError(CourseError):
    """A Webmention that cannot be sent or accepted; `code` says why."""

    code = "webmention_invalid"


# --- endpoint discovery (§3.1.2) -----------------------------------------------------------


class _RelFinder(HTMLParser):
    """The href of the first <link> or <a> whose rel names webmention."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.href is not None or tag not in ("link", "a"):
            return
        named = dict(attrs)
        rels = (named.get("rel") or "").lower().split()
        if "webmention" in rels and named.get("href") is not None:
            self.href = named["href"]


def _link_header_endpoint(headers: list[str]) -> str | None:
    """The first Link header value with rel=webmention (RFC 8288 form, rel may list several)."""
    for header in headers:
        for value in re.finditer(r"<([^>]*)>([^,<]*)", header):
            rel = re.search(r'rel\s*=\s*"?([^";]+)"?', value.group(2))
            if rel and "webmention" in rel.group(1).lower().split():
                return value.group(1)
    return None


async def discover_endpoint(session: aiohttp.ClientSession, target: str) -> str | None:
    """The target's Webmention endpoint, absolute; None when it names none."""
    async with session.get(target, max_redirects=MAX_REDIRECTS) as response:
        base = str(response.url)
        found = _link_header_endpoint(response.headers.getall("Link", []))
        if found is None and response.content_type in ("text/html", "application/xhtml+xml"):
            body = await read_capped(response.content, MAX_PAGE_BYTES)
            finder = _RelFinder()
            finder.feed(body.decode(response.charset or "utf-8", errors="replace"))
            found = finder.href
    return None if found is None else urljoin(base, found)  # "" is the page itself


# --- sending -------------------------------------------------------------------------------


def queue_send(node: Services, uid: Uid, target: str) -> None:
    """Queue a Webmention from the badge's page to `target`."""
    job = WebmentionSent(uid=uid_text(uid), target=target, queued=format_created(node.clock()))
    digest = hashlib.sha256(f"{job.uid} {target}".encode()).digest()
    node.store.put(Kind.JOURNAL, OUT_PREFIX + digest, job.to_bytes())
    node.enqueue(SEND_TOPIC, digest)


def badge_page(node: Services, uid: Uid) -> str:
    return f"{node.gateway_url}/badges/{uid_text(uid)}"


async def send(node: Services, key: bytes) -> bool:
    """The queue's handler: True when done (sent, refused for good, or no endpoint)."""
    raw = node.store.get(Kind.JOURNAL, OUT_PREFIX + key)
    if raw is None:
        return True
    job = WebmentionSent.from_bytes(raw)
    if job.uid is None or job.target is None:
        return True  # a record no node wrote: nothing to send
    source = badge_page(node, parse_uid(job.uid))
    outcome = await _send_once(node, source, job.target)
    job = job.with_members(outcome=outcome, at=format_created(node.clock()))
    node.store.put(Kind.JOURNAL, OUT_PREFIX + key, job.to_bytes())
    log.info("webmention sent", extra={"outcome": outcome})
    return True


async def _send_once(node: Services, source: str, target: str) -> str:
    """What happened: "sent <status>", "refused <status>" or "no endpoint"; raises (to be
    retried) on a network error or a 5xx."""
    try:
        timeout_s = node.settings.webmention_timeout_s
        async with asyncio.timeout(timeout_s), node.outbound.session() as session:
            endpoint = await discover_endpoint(session, target)
            if endpoint is None:
                return "no endpoint"
            form = {"source": source, "target": target}
            async with session.post(endpoint, data=form, max_redirects=MAX_REDIRECTS) as answer:
                status = answer.status
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        if refused_address(exc):  # the outbound rules will refuse it every time
            return "refused address"
        raise WebmentionError(
            f"sending failed: {why_unreachable(exc)}", code="webmention_unreachable"
        ) from exc
    if status >= 500:
        raise WebmentionError(f"the endpoint answered {status}", code="webmention_unreachable")
    return f"sent {status}" if status < 400 else f"refused {status}"


def sent(node: Services) -> list[dict[str, Any]]:
    scanned = node.store.scan(Kind.JOURNAL, OUT_PREFIX)
    return [WebmentionSent.from_bytes(value).to_json() for _, value in scanned]


# --- receiving (§3.2) ----------------------------------------------------------------------


def _check_url(value: str, name: str) -> str:
    if len(value) > MAX_URL_CHARS or not _HTTP_URL.fullmatch(value):
        raise WebmentionError(f"{name} must be an http(s) URL", code="webmention_url_invalid")
    return value


def _target_uid(node: Services, target: str) -> Uid:
    """The badge a target names: this node's /badges/<UID> (or .json), held here (§3.2.1)."""
    prefix = f"{node.gateway_url}/badges/"
    path = target[len(prefix) :] if target.startswith(prefix) else ""
    name = path.removesuffix(".json")
    try:
        uid = parse_uid(name) if name and "/" not in name else None
    except (BadgeChainError, DecodeError, ValueError):
        uid = None
    if uid is None or load_badge(node.store, uid) is None:
        raise WebmentionError(
            "the target is not a badge page of this node", code="webmention_target_unknown"
        )
    return uid


def _check_request(node: Services, source: str, target: str) -> Uid:
    """What §3.2.1 asks be checked at once: two http(s) URLs, the target a badge held here."""
    _check_url(source, "source")
    _check_url(target, "target")
    if source == target:
        raise WebmentionError("source and target are the same", code="webmention_url_invalid")
    return _target_uid(node, target)


class Busy(WebmentionError):
    """A Webmention refused for now (429 or 503); `retry_after_s` says when to try again."""

    def __init__(self, message: str, *, code: str, retry_after_s: float) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


def accept(node: Services, source: str, target: str) -> dict[str, Any]:
    """Check a received Webmention, count it against the limits and queue its verification;
    returns the request's record (its `id` names its status at GET /webmention/{id})."""
    _check_request(node, source, target)
    now = node.clock().timestamp()
    host = (urlsplit(source).hostname or "").lower()
    wait = WEBMENTIONS.check(node.store, host, now)
    if wait is not None:
        raise Busy(
            "too many Webmentions from this source host or in all; try again later",
            code="webmention_rate_limited",
            retry_after_s=wait,
        )
    if len(node.queue.items(RECEIVE_TOPIC)) >= MAX_PENDING:
        raise Busy(
            f"{MAX_PENDING} Webmentions wait for verification; try again later",
            code="webmention_busy",
            retry_after_s=60.0,
        )
    _prune_received(node, now)
    # Keyed by time first, so the oldest are pruned from the front of the range.
    pair = hashlib.sha256(f"{source}\x00{target}".encode()).digest()
    digest = int(now * 1000).to_bytes(8, "big") + pair[:24]
    job = WebmentionReceived(
        id=digest.hex(),
        source=source,
        target=target,
        state="queued",
        received=format_created(node.clock()),
    )
    node.store.put(Kind.JOURNAL, RX_PREFIX + digest, job.to_bytes())
    node.enqueue(RECEIVE_TOPIC, digest)
    return job.to_json()


def _prune_received(node: Services, now: float) -> None:
    """Forget a few received Webmentions older than RECEIVED_KEPT_S (more than a request
    adds, so their number stays bounded by the rate limits times the time kept)."""
    oldest = node.store.scan(Kind.JOURNAL, RX_PREFIX, limit=PRUNE_PER_REQUEST)
    for key, _ in list(oldest):
        millis = int.from_bytes(key[len(RX_PREFIX) : len(RX_PREFIX) + 8], "big")
        if millis / 1000 >= now - RECEIVED_KEPT_S:
            break
        node.store.delete(Kind.JOURNAL, key)


def received(node: Services, job_id: str) -> dict[str, Any]:
    """A received Webmention's record: queued, verified or refused (with the error)."""
    try:
        digest = bytes.fromhex(job_id) if len(job_id) == 64 else b""
    except ValueError:
        digest = b""
    raw = node.store.get(Kind.JOURNAL, RX_PREFIX + digest) if digest else None
    if raw is None:
        raise WebmentionError("no such Webmention", code="webmention_not_found")
    return WebmentionReceived.from_bytes(raw).to_json()


async def verify_received(node: Services, key: bytes) -> bool:
    """The queue's handler of a received Webmention: verify it once and record the outcome
    (a refusal is an answer, not a failure to retry: the sender may send it again)."""
    raw = node.store.get(Kind.JOURNAL, RX_PREFIX + key)
    if raw is None:
        return True
    job = WebmentionReceived.from_bytes(raw)
    try:
        await receive(node, job.source or "", job.target or "")
        job = job.with_members(state="verified", error=None)
    except WebmentionError as exc:
        error = {"code": exc.code, "message": exc.message}
        job = job.with_members(state="refused", error=error)
    job = job.with_members(checked=format_created(node.clock()))
    node.store.put(Kind.JOURNAL, RX_PREFIX + key, job.to_bytes())
    return True


async def receive(node: Services, source: str, target: str) -> dict[str, Any]:
    """Verify and keep a mention of a badge: the source must answer and link to the target."""
    uid = _check_request(node, source, target)
    key = IN_PREFIX + uid + hashlib.sha256(source.encode()).digest()
    try:
        body, content_type = await _fetch_source(node, source)
        if not _links_to(body, content_type, source, target):
            raise WebmentionError(
                "the source does not link to the target", code="webmention_no_link"
            )
    except WebmentionError as exc:
        # §3.2.2: a source that is gone or links no more takes its mention away.
        if exc.code == "webmention_no_link" or "answered 410" in exc.message:
            node.store.delete(Kind.JOURNAL, key)
        raise
    mention = Mention(source=source, target=target, verified=format_created(node.clock()))
    if node.store.get(Kind.JOURNAL, key) is None and len(mentions(node, uid)) >= MAX_MENTIONS:
        raise WebmentionError("this badge keeps no more mentions", code="webmention_full")
    node.store.put(Kind.JOURNAL, key, mention.to_bytes())
    return mention.to_json()


async def _fetch_source(node: Services, source: str) -> tuple[str, str]:
    try:
        async with (
            asyncio.timeout(node.settings.webmention_timeout_s),
            node.outbound.session() as session,
            session.get(source, max_redirects=MAX_REDIRECTS) as response,
        ):
            if response.status != 200:
                raise WebmentionError(
                    f"the source answered {response.status}", code="webmention_source_failed"
                )
            body = await read_capped(response.content, MAX_PAGE_BYTES)
            text = body.decode(response.charset or "utf-8", errors="replace")
            return text, response.content_type
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        refused = refused_address(exc)
        code = "webmention_source_refused" if refused else "webmention_source_failed"
        why = why_unreachable(exc)
        raise WebmentionError(f"the source cannot be fetched: {why}", code=code) from exc


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.urls.add(value.strip())


def _links_to(body: str, content_type: str, source: str, target: str) -> bool:
    """HTML: an href or src that resolves to the target; other types (JSON, text): the
    target's URL in the text (§3.2.2)."""
    if content_type not in ("text/html", "application/xhtml+xml"):
        return target in body
    finder = _Links()
    finder.feed(body)
    return target in {urljoin(source, url) for url in finder.urls}


def mentions(node: Services, uid: Uid) -> list[dict[str, Any]]:
    scanned = node.store.scan(Kind.JOURNAL, IN_PREFIX + uid, limit=MAX_MENTIONS)
    return [Mention.from_bytes(value).to_json() for _, value in scanned]
