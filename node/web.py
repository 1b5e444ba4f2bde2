"""What every route module shares: the keys to the running node, middlewares, body readers."""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any, Final

from aiohttp import web

from badgechain.chain.jsonio import parse_json
from badgechain.chain.uid import parse_uid

from .config import MAX_JSON_BYTES
from .openapi import OPERATIONS
from .problems import Handler, Problem
from .services import Services

__all__ = [
    "ADMIN",
    "ADMIN_PREFIX",
    "ADMIN_ROUTES",
    "MAX_JSON_BYTES",
    "REQUEST_TIMEOUT",
    "SERVICES",
    "AdminToken",
    "admin_only",
    "json_response",
    "parse_uid",
    "read_bounded_body",
    "read_json",
    "time_limit",
]

SERVICES: web.AppKey[Services] = web.AppKey("services")
ADMIN: web.AppKey[AdminToken] = web.AppKey("admin")
REQUEST_TIMEOUT = 30.0  # seconds for a whole request, network lookups included
# Admin routes are declared so in node/openapi.py's table; the prefix also keeps a path
# under /admin that names no route from answering anything but 401 without the token.
ADMIN_ROUTES: Final = frozenset(
    (operation.method, operation.path) for operation in OPERATIONS if operation.admin
)
ADMIN_PREFIX = "/admin"


class AdminToken:
    """The bearer token of the admin API, compared in constant time."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def admits(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self._token
        )


@web.middleware
async def admin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """No route declared admin (and nothing under /admin) answers without the token."""
    if _is_admin(request) and not request.app[ADMIN].admits(request):
        raise Problem(401, "admin_token_required", "this call needs the node's admin token")
    return await handler(request)


def _is_admin(request: web.Request) -> bool:
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else request.path
    return (request.method, path) in ADMIN_ROUTES or request.path.startswith(ADMIN_PREFIX)


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
