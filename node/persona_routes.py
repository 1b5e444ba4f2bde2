"""Personas, endorsements and collections: admin routes and their public views.

POST /admin/personas        {name?, description?}          → 201 a new persona
GET  /admin/personas                                       → {personas}
POST /admin/endorse         {uid, comment?}                → 201 the endorsement
GET  /badges/{uid}/endorsements (public)                   → {endorsements}
POST /admin/collections     {name, uids, description?}     → 201 the collection
GET  /admin/collections                                    → {collections}
GET  /admin/collections/{id}                               → it, each badge with its status
PUT  /admin/collections/{id} {name, uids, description?}    → it, edited (same id and link)
DELETE /admin/collections/{id}                             → {deleted: id}
GET  /collections/{id}      (public)                       → the collection and its badges
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from badgechain.storage import Store

from . import personas
from .collections import (
    collection_json,
    collection_status,
    create_collection,
    delete_collection,
    list_collections,
    load_collection,
    update_collection,
)
from .problems import Problem
from .routes import Access, Answer, Body, Route, json_body
from .web import SERVICES, json_response, parse_uid

__all__ = ["ROUTES"]

_MAX_BODY_BYTES: Final = 64 * 1024


async def _body(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    """The JSON object in the body; an empty body is an empty object."""
    body = json_body(request, absent={})
    if not isinstance(body, dict):
        raise Problem(400, "body_invalid", "the body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise Problem(400, "field_unknown", f"unknown field {sorted(unknown)[0]!r:.40}")
    return body


def _store(request: web.Request) -> Store:
    return request.app[SERVICES].store


async def post_persona(request: web.Request) -> web.Response:
    body = await _body(request, {"name", "description"})
    persona = await personas.create_persona(
        request.app[SERVICES], body.get("name"), body.get("description")
    )
    return json_response(persona.to_json(), status=201)


async def get_personas(request: web.Request) -> web.Response:
    found = personas.list_personas(request.app[SERVICES])
    return json_response({"personas": [persona.to_json() for persona in found]})


async def post_endorse(request: web.Request) -> web.Response:
    body = await _body(request, {"uid", "comment"})
    uid = body.get("uid")
    if not isinstance(uid, str):
        raise Problem(400, "uid_invalid", "the body needs a `uid`: the endorsed badge's UID")
    endorsement = await personas.endorse(request.app[SERVICES], parse_uid(uid), body.get("comment"))
    return json_response(endorsement.to_json(), status=201)


async def get_endorsements(request: web.Request) -> web.Response:
    uid = parse_uid(request.match_info["uid"])
    return json_response({"endorsements": personas.list_endorsements(request.app[SERVICES], uid)})


async def post_collection(request: web.Request) -> web.Response:
    body = await _body(request, {"name", "uids", "description"})
    node = request.app[SERVICES]
    record = await create_collection(
        node, body.get("name"), body.get("uids"), body.get("description")
    )
    shown = collection_json(_store(request), record)
    links = {
        "url": f"{node.gateway_url}/collections/{record['id']}",
        "page": f"{node.gateway_url}/#/collection/{record['id']}",  # the web page's view
    }
    return json_response(shown | links, 201)


async def get_collections(request: web.Request) -> web.Response:
    records = list_collections(_store(request))
    summaries = [
        {name: record[name] for name in ("id", "name", "created")} | {"count": len(record["uids"])}
        for record in records
    ]
    return json_response({"collections": summaries})


async def get_admin_collection(request: web.Request) -> web.Response:
    node = request.app[SERVICES]
    record = load_collection(node.store, request.match_info["id"])
    return json_response(await collection_status(node, record))


async def put_collection(request: web.Request) -> web.Response:
    body = await _body(request, {"name", "uids", "description"})
    node = request.app[SERVICES]
    record = await update_collection(
        node, request.match_info["id"], body.get("name"), body.get("uids"), body.get("description")
    )
    return json_response(await collection_status(node, record))


async def delete_admin_collection(request: web.Request) -> web.Response:
    collection_id = request.match_info["id"]
    delete_collection(request.app[SERVICES], collection_id)
    return json_response({"deleted": collection_id})


async def get_collection(request: web.Request) -> web.Response:
    store = _store(request)
    record = load_collection(store, request.match_info["id"])
    return json_response(collection_json(store, record))


ROUTES: Final = (
    Route(
        "POST",
        "/admin/personas",
        post_persona,
        "Create a persona: a genesis badge; badges to urn:bns:<its UID> reach this node",
        access=Access.ADMIN,
        ok=Answer("Json", 201),
        # No body: a persona of the default name.
        body=Body("PersonaRequest", max_bytes=_MAX_BODY_BYTES, required=False),
        errors=(503,),
    ),
    Route(
        "GET",
        "/admin/personas",
        get_personas,
        "This node's personas",
        access=Access.ADMIN,
        ok=Answer("Json"),
    ),
    Route(
        "POST",
        "/admin/endorse",
        post_endorse,
        "Endorse a badge: sign, publish and deliver an EndorsementCredential about it",
        access=Access.ADMIN,
        ok=Answer("Json", 201),
        body=Body("EndorseRequest", max_bytes=_MAX_BODY_BYTES),
        errors=(404, 422, 502, 503),
    ),
    Route(
        "GET",
        "/badges/{uid}/endorsements",
        get_endorsements,
        "The endorsements of a badge that this node holds",
        access=Access.PUBLIC,
        ok=Answer("Json"),
        errors=(400,),
    ),
    Route(
        "POST",
        "/admin/collections",
        post_collection,
        "Create a public collection of badges this node holds",
        access=Access.ADMIN,
        ok=Answer("Json", 201),
        body=Body("CollectionRequest", max_bytes=_MAX_BODY_BYTES),
        errors=(422,),
    ),
    Route(
        "GET",
        "/admin/collections",
        get_collections,
        "This node's collections",
        access=Access.ADMIN,
        ok=Answer("Json"),
    ),
    Route(
        "GET",
        "/admin/collections/{id}",
        get_admin_collection,
        "A collection with each badge's status (shown, hidden, rejected, not_held, revoked)",
        access=Access.ADMIN,
        ok=Answer("Json"),
        params=(("id", "collection_id"),),
        errors=(400, 404),
    ),
    Route(
        "PUT",
        "/admin/collections/{id}",
        put_collection,
        "Edit a collection: a new name, badges and description; its link stays",
        access=Access.ADMIN,
        ok=Answer("Json"),
        body=Body("CollectionRequest", max_bytes=_MAX_BODY_BYTES),
        params=(("id", "collection_id"),),
        errors=(404, 422),
    ),
    Route(
        "DELETE",
        "/admin/collections/{id}",
        delete_admin_collection,
        "Delete a collection: its link answers 404 from now on",
        access=Access.ADMIN,
        ok=Answer("Json"),
        params=(("id", "collection_id"),),
        errors=(400, 404),
    ),
    Route(
        "GET",
        "/collections/{id}",
        get_collection,
        "A collection: its name and the badges in it, with links",
        access=Access.PUBLIC,
        ok=Answer("Json"),
        params=(("id", "collection_id"),),
        errors=(400, 404),
    ),
)
