"""Bitstring Status List routes: GET /status/{list_id}, the issuer's signed list credential."""

from __future__ import annotations

import json
from typing import Final

from aiohttp import web

from . import status
from .routes import Access, Answer, Route
from .web import SERVICES

__all__ = ["LIST_MEDIA_TYPE", "ROUTES"]

LIST_MEDIA_TYPE = "application/vc+ld+json"


async def get_status_list(request: web.Request) -> web.Response:
    """GET /status/{list_id}: the signed list, re-signed first when it would soon be stale."""
    signed = status.served_list(request.app[SERVICES], request.match_info["list_id"])
    media = "application/json" if _prefers_plain_json(request) else LIST_MEDIA_TYPE
    return web.Response(
        body=json.dumps(signed, ensure_ascii=False).encode(),
        content_type=media,
    )


def _prefers_plain_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "vc+ld+json" not in accept


ROUTES: Final = (
    Route(
        "GET",
        "/status/{list_id}",
        get_status_list,
        "The issuer's signed Bitstring Status List credential (revocation), re-signed hourly",
        access=Access.PUBLIC,
        ok=Answer("Credential", media=LIST_MEDIA_TYPE),
        errors=(400, 404),
    ),
)
