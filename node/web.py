"""What every route module shares: the keys to the running node, the token, the time limit,
a bounded body reader and JSON answers. Route declarations are in node/routes.py."""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

from aiohttp import web

from badgechain.chain.uid import parse_uid

from .config import MAX_JSON_BYTES
from .problems import Handler, Problem
from .services import Services

__all__ = [
    "ADMIN",
    "MAX_JSON_BYTES",
    "OPENAPI_DOCUMENT",
    "REQUEST_TIMEOUT",
    "SERVICES",
    "AdminToken",
    "json_response",
    "parse_uid",
    "read_bounded_body",
    "time_limit",
]

SERVICES: web.AppKey[Services] = web.AppKey("services")
ADMIN: web.AppKey[AdminToken] = web.AppKey("admin")
# The app's OpenAPI document, built once from its route declarations (node/openapi.py).
OPENAPI_DOCUMENT: web.AppKey[dict[str, Any]] = web.AppKey("openapi_document", dict)
REQUEST_TIMEOUT = 30.0  # NodeSettings.request_timeout_s, for an app without services


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
async def time_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    services = request.app.get(SERVICES)
    limit_s = REQUEST_TIMEOUT if services is None else services.settings.request_timeout_s
    try:
        async with asyncio.timeout(limit_s):
            return await handler(request)
    except TimeoutError as exc:
        raise Problem(504, "request_timeout", f"no answer within {limit_s:.0f} s") from exc


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
