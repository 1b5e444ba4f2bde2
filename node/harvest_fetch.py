"""Fetching a participant's feed for a harvest (node/harvest.py): conditional (ETag,
Last-Modified), bounded in bytes, time and redirects, through the node's outbound rules
(node/outbound.py), each failure a FeedError with a stable code.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

import aiohttp

from .courses import CourseError
from .outbound import refused_address, why_unreachable

__all__ = [
    "MAX_FEED_BYTES",
    "FeedError",
    "Fetched",
    "fetch_feed",
    "read_capped",
]

MAX_FEED_BYTES: Final = 1024 * 1024  # a blog's feed of its last posts: far under
MAX_REDIRECTS: Final = 3


class FeedError(CourseError):
    """A feed that could not be read; `code` says why (feed_unreachable,
    feed_address_refused, feed_too_large, feed_timeout, feed_http_error, feed_malformed,
    feed_entities_refused, feed_too_complex)."""

    code = "feed_malformed"


@dataclass(frozen=True, slots=True)
class Fetched:
    """A feed's answer: None body when it has not changed (304)."""

    body: bytes | None
    content_type: str
    etag: str | None
    modified: str | None


async def fetch_feed(
    session: aiohttp.ClientSession,
    url: str,
    etag: str | None,
    modified: str | None,
    *,
    timeout_s: float,  # NodeSettings.feed_timeout_s: connect to last byte
) -> Fetched:
    """GET `url` with the validators of its last answer; at most MAX_FEED_BYTES."""
    headers = {"Accept": "application/atom+xml, application/rss+xml, application/feed+json, */*"}
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    try:
        async with asyncio.timeout(timeout_s):
            async with session.get(url, headers=headers, max_redirects=MAX_REDIRECTS) as response:
                return await _read_answer(response)
    except TimeoutError as exc:
        raise FeedError(f"the feed did not answer in {timeout_s:g} s", code="feed_timeout") from exc
    except aiohttp.ClientConnectorError as exc:  # its OSError says why (a private address)
        code = "feed_address_refused" if refused_address(exc) else "feed_unreachable"
        raise FeedError(f"the feed cannot be fetched: {why_unreachable(exc)}", code=code) from exc
    except aiohttp.TooManyRedirects as exc:
        raise FeedError("the feed redirects too often", code="feed_unreachable") from exc
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise FeedError(
            f"the feed cannot be fetched: {why_unreachable(exc)}", code="feed_unreachable"
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
