"""One fetch of the crawler (node/crawler.py): a single hop (a redirect is handed back, so
the crawler checks each target before it goes there) or, for robots.txt, a few hops;
bounded in time and bytes; every outcome a document, a next URL, or a coded failure.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

import aiohttp

from .crawl_links import Robots, normalise
from .outbound import refused_address, why_unreachable

__all__ = ["MAX_ROBOTS_BYTES", "Answer", "Failure", "fetch", "read_robots"]

MAX_ROBOTS_BYTES: Final = 512 * 1024  # RFC 9309 asks crawlers to read at least 500 KiB
ROBOTS_REDIRECTS: Final = 5  # RFC 9309 §2.3.1.2: at least five
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
# robots.txt answers meaning "none here" (RFC 9309: crawl freely), unlike server errors.
_NO_ROBOTS: Final = frozenset({"fetch_not_found", "fetch_failed", "fetch_too_large"})
_OWN_CODE: Final = frozenset({"fetch_address_refused"})  # the outbound rules', not the site's


@dataclass(frozen=True, slots=True)
class Answer:
    """A 200 answer, read within its bound."""

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
class Failure:
    """Why a fetch brought no document."""

    code: str
    message: str


async def fetch(
    http: aiohttp.ClientSession, url: str, max_bytes: int, wait_s: float, redirects: int = 0
) -> Answer | str | Failure:
    """A 200 answer, the next URL of a redirect (when `redirects` is 0: aiohttp follows
    that many itself), or why neither; within `wait_s` seconds and `max_bytes`."""
    follow, most = redirects > 0, max(redirects, 1)
    try:
        async with (
            asyncio.timeout(wait_s),
            http.get(url, allow_redirects=follow, max_redirects=most) as response,
        ):
            if response.status in _REDIRECTS and not redirects:
                location = normalise(response.headers.get("Location", ""), url)
                return location or Failure("redirect_invalid", "a redirect to no http(s) URL")
            if response.status != 200:
                return Failure(_status_code(response.status), f"HTTP {response.status}")
            body = await _read_bounded(response, max_bytes)
            if body is None:
                return Failure("fetch_too_large", f"over {max_bytes} bytes")
            return Answer(body, response.content_type, response.charset)
    except TimeoutError:
        return Failure("fetch_timeout", f"no complete answer within {wait_s:.1f} s")
    except aiohttp.ClientError as exc:
        code = "fetch_address_refused" if refused_address(exc) else "fetch_unreachable"
        return Failure(code, why_unreachable(exc))


async def read_robots(http: aiohttp.ClientSession, origin: str, wait_s: float) -> Robots:
    """RFC 9309: a 4xx (none there) allows everything; a server or network error
    allows nothing; more than 5 redirects count as none there."""
    got = await fetch(http, origin + "/robots.txt", MAX_ROBOTS_BYTES, wait_s, ROBOTS_REDIRECTS)
    if isinstance(got, Failure) and got.code in _OWN_CODE:
        return Robots(None, got.message, got.code)
    if isinstance(got, Failure):
        return Robots(None) if got.code in _NO_ROBOTS else Robots(None, got.message)
    return Robots(got.text() if isinstance(got, Answer) else None)


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
