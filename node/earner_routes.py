"""Earner routes: the public inbox (`POST /inbox`) and the earner's admin calls.

POST /inbox          a credential for this node's DID → 202 {uid, state}; 4xx when refused,
                     5xx (503, 507) when it may be sent again later
GET  /admin/inbox    the badges waiting for a decision
POST /admin/accept   {uid}          → publish this node's URL for the badge
POST /admin/reject   {uid}          → refuse it
POST /admin/move     {uid, urls}    → publish other URLs
POST /admin/hide     {uid}          → publish an empty location
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from badgechain.bns.record import Record
from badgechain.chain.uid import Uid, uid_text

from . import earner
from .delivery import INBOX_PATH, MAX_INBOX_BYTES
from .gateway import record_json
from .problems import Problem
from .replication import with_replication
from .routes import Access, Answer, Body, Route, json_body
from .web import SERVICES, json_response, parse_uid

__all__ = ["ROUTES"]

_MAX_ADMIN_BYTES: Final = 64 * 1024
INTERNAL_ERROR: Final = "internal_error"  # chain.verify's code for a check that crashed


def _answer(uid: Uid, state: dict[str, Any], record: Record | None = None) -> dict[str, Any]:
    answer = {"uid": uid_text(uid), "state": state.get("state")}
    if record is not None:
        answer["record"] = record_json(record)
    return answer


async def _admin_body(request: web.Request) -> tuple[Uid, dict[str, Any]]:
    body = json_body(request)
    if not isinstance(body, dict):
        raise Problem(400, "body_invalid", "the body must be a JSON object")
    uid = body.get("uid")
    if not isinstance(uid, str):
        raise Problem(400, "uid_invalid", "the body needs a `uid`: the badge's proofValue")
    return parse_uid(uid), body


async def post_inbox(request: web.Request) -> web.Response:
    """POST /inbox: a badge delivered to this node's DID (public)."""
    credential = json_body(request)
    try:
        uid, state = await earner.receive(request.app[SERVICES], credential)
    except earner.InboxRefused as exc:
        # A bug or race in our verifier says nothing about the badge: never a 4xx, which an
        # issuer's outbox takes as final; a 503 it retries (issue 17).
        if exc.code == INTERNAL_ERROR:
            raise Problem(
                503,
                "verifier_unavailable",
                "the inbox could not verify the badge this time; try again later",
            ) from exc
        raise
    return json_response(_answer(uid, state), status=202)


async def get_inbox(request: web.Request) -> web.Response:
    items = earner.inbox_items(request.app[SERVICES])
    return json_response({"badges": [item.to_json() for item in items]})


async def post_accept(request: web.Request) -> web.Response:
    uid, _ = await _admin_body(request)
    node = request.app[SERVICES]
    state, record = await earner.accept(node, uid)
    return json_response(with_replication(node, uid, _answer(uid, state, record)))


async def post_reject(request: web.Request) -> web.Response:
    uid, _ = await _admin_body(request)
    return json_response(_answer(uid, earner.reject(request.app[SERVICES], uid)))


async def post_move(request: web.Request) -> web.Response:
    uid, body = await _admin_body(request)
    node = request.app[SERVICES]
    state, record = await earner.move(node, uid, body.get("urls"))
    return json_response(with_replication(node, uid, _answer(uid, state, record)))


async def post_hide(request: web.Request) -> web.Response:
    uid, _ = await _admin_body(request)
    node = request.app[SERVICES]
    state, record = await earner.hide(node, uid)
    return json_response(with_replication(node, uid, _answer(uid, state, record)))


_UID_BODY: Final = Body("UidRequest", max_bytes=_MAX_ADMIN_BYTES)
ROUTES: Final = (
    Route(
        "POST",
        INBOX_PATH,
        post_inbox,
        "Deliver a badge to this node's earner inbox",
        access=Access.PUBLIC,
        ok=Answer("Delivered", 202),
        body=Body("Credential", max_bytes=MAX_INBOX_BYTES),
        errors=(409, 422),
    ),
    Route(
        "GET",
        "/admin/inbox",
        get_inbox,
        "Badges delivered here, waiting for a decision",
        access=Access.ADMIN,
        ok=Answer("Inbox"),
    ),
    Route(
        "POST",
        "/admin/accept",
        post_accept,
        "Accept a delivered badge: publish this node as its location",
        access=Access.ADMIN,
        ok=Answer("EarnerAnswer"),
        body=_UID_BODY,
        errors=(404, 409, 422, 503),
    ),
    Route(
        "POST",
        "/admin/reject",
        post_reject,
        "Refuse a delivered badge",
        access=Access.ADMIN,
        ok=Answer("EarnerAnswer"),
        body=_UID_BODY,
        errors=(404, 409),
    ),
    Route(
        "POST",
        "/admin/move",
        post_move,
        "Publish other locations for a badge",
        access=Access.ADMIN,
        ok=Answer("EarnerAnswer"),
        body=Body("MoveRequest", max_bytes=_MAX_ADMIN_BYTES),
        errors=(404, 409, 422, 503),
    ),
    Route(
        "POST",
        "/admin/hide",
        post_hide,
        "Hide a badge: publish an empty location",
        access=Access.ADMIN,
        ok=Answer("EarnerAnswer"),
        body=_UID_BODY,
        errors=(404, 409, 422, 503),
    ),
)
