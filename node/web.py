"""What every route module shares: the key to the running node, middlewares, body readers."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from badgechain.bns.record import Uid
from badgechain.chain.errors import DecodeError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.multibase import multibase_decode

from .problems import Handler, Problem

if TYPE_CHECKING:
    from .app import Node

__all__ = [
    "ADMIN_PREFIXES",
    "MAX_JSON_BYTES",
    "NODE",
    "REQUEST_TIMEOUT",
    "admin_only",
    "json_response",
    "parse_uid",
    "read_bounded_body",
    "read_json",
    "time_limit",
]

NODE: web.AppKey[Node] = web.AppKey("node")
MAX_JSON_BYTES = 1024 * 1024
REQUEST_TIMEOUT = 30.0  # seconds for a whole request, network lookups included
ADMIN_PREFIXES = ("/admin/", "/admin", "/credentials/issue")


@web.middleware
async def admin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Nothing under the admin prefixes answers without the node's bearer token."""
    if request.path.startswith(ADMIN_PREFIXES) and not request.app[NODE].is_admin(request):
        raise Problem(401, "admin_token_required", "this call needs the node's admin token")
    return await handler(request)


@web.middleware
async def time_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            return await handler(request)
    except TimeoutError as exc:
        raise Problem(504, "request_timeout", f"no answer within {REQUEST_TIMEOUT:.0f} s") from exc


async def read_json(request: web.Request, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The request's JSON body, bounded, with duplicate keys refused."""
    if request.content_type not in ("application/json", "application/ld+json", "text/plain"):
        raise Problem(415, "unsupported_media_type", "send the body as application/json")
    if request.content_length is not None and request.content_length > max_bytes:
        raise Problem(413, "body_too_large", f"the body is over {max_bytes} bytes")
    body = await read_bounded_body(request, max_bytes)
    if len(body) > max_bytes:
        raise Problem(413, "body_too_large", f"the body is over {max_bytes} bytes")
    return parse_json(body, max_bytes=max_bytes)


async def read_bounded_body(request: web.Request, max_bytes: int) -> bytes:
    """Up to `max_bytes + 1` bytes of the body: a read returns what is buffered, so loop."""
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:
        chunk = await request.content.read(max_bytes + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(data, ensure_ascii=False), content_type="application/json"
    )


def parse_uid(text: str) -> Uid:
    """A UID from a URL: the multibase (base58btc, 'z…') proofValue, or `urn:bns:` + that."""
    text = text.removeprefix("urn:bns:")
    if not text.startswith("z") or len(text) > 100:
        raise Problem(400, "uid_invalid", "a UID is the badge's proofValue: 'z' and base58")
    try:
        raw = multibase_decode(text)
    except DecodeError as exc:
        raise Problem(400, "uid_invalid", f"not a UID: {exc.message}") from exc
    if len(raw) != 64:
        raise Problem(400, "uid_invalid", "a UID is a 64-byte signature")
    return Uid(raw)
