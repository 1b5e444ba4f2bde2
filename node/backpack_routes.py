"""Backpack routes (issue 14 item 3), all admin: what the earner holds, imports, export and
restore (node/backpack.py).

GET  /admin/badges          every held badge with its state and source
POST /admin/badges/import   {data: base64 of the badge, origin} → 201 the kept badge and its report
GET  /admin/badges/export   the held badges as a BadgeChainBackpack document (no key)
POST /admin/badges/restore  a BadgeChainBackpack document → {restored, relocating}
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

from aiohttp import web

from . import backpack
from .backpack_status import with_bns_status
from .problems import Problem
from .routes import Access, Answer, Body, Route, json_body
from .web import SERVICES, json_response

__all__ = ["ROUTES"]

# base64 grows a badge by a third; a little over for the rest of the body.
_MAX_IMPORT_BODY: Final = backpack.MAX_IMPORT_BYTES * 4 // 3 + 64 * 1024
_MAX_RESTORE_BODY: Final = 64 * 1024 * 1024


async def get_badges(request: web.Request) -> web.Response:
    node = request.app[SERVICES]
    held = backpack.held_badges(node)
    check = request.query.get("check")
    if check not in (None, "bns"):
        raise Problem(400, "query_invalid", "check is bns (ask the BNS about each) or absent")
    if check == "bns":  # ask the BNS whether each is revoked
        return json_response({"badges": await with_bns_status(node, held)})
    return json_response({"badges": [badge.to_json() for badge in held]})


async def post_import(request: web.Request) -> web.Response:
    body = json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("data"), str):
        raise Problem(400, "body_invalid", "send {data: the badge's bytes in base64, origin}")
    try:
        data = base64.b64decode(body["data"], validate=True)
    except (binascii.Error, ValueError) as exc:  # the shape is right: no badge in it
        raise Problem(422, "badge_invalid", "data is not base64") from exc
    origin = body.get("origin")
    held, report = await backpack.import_badge(
        request.app[SERVICES], data, origin if isinstance(origin, str) else ""
    )
    return json_response({"badge": held.to_json(), "report": report.to_json()}, status=201)


async def get_export(request: web.Request) -> web.Response:
    return json_response(backpack.export_backpack(request.app[SERVICES]))


async def post_restore(request: web.Request) -> web.Response:
    restored, relocating = backpack.restore_backpack(request.app[SERVICES], json_body(request))
    return json_response({"restored": restored, "relocating": relocating})


ROUTES: Final = (
    Route(
        "GET",
        "/admin/badges",
        get_badges,
        "Badges this node holds for its earner, with state and source (check=bns: and revoked?)",
        access=Access.ADMIN,
        ok=Answer("Json"),
        query=(("check", "check"),),
    ),
    Route(
        "POST",
        "/admin/badges/import",
        post_import,
        "Verify a badge from another system and keep it as accepted",
        access=Access.ADMIN,
        ok=Answer("Json", 201),
        body=Body("BackpackImport", max_bytes=_MAX_IMPORT_BODY),
        errors=(409, 422),
    ),
    Route(
        "GET",
        "/admin/badges/export",
        get_export,
        "Every held badge, to restore the backpack elsewhere",
        access=Access.ADMIN,
        ok=Answer("Json"),
    ),
    Route(
        "POST",
        "/admin/badges/restore",
        post_restore,
        "Restore an exported backpack",
        access=Access.ADMIN,
        ok=Answer("Json"),
        body=Body("Backpack", max_bytes=_MAX_RESTORE_BODY),
        errors=(409, 422),
    ),
)
