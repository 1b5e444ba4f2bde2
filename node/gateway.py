"""Public gateway routes: what anyone may ask a node (DESIGN.md "Gateway").

The BNS view of a UID, the badges this node holds (JSON, or baked into an image), the BNS
indexes of an issuer or an earner, the node's did:web document and the OpenAPI document.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, Final

from aiohttp import web

from badgechain.bns.earner_index import entries_signed_by
from badgechain.bns.index import page_is_full
from badgechain.bns.record import Record
from badgechain.chain.keys import (
    PublicKey,
    build_did_web_document,
    did_key_from_public_key,
    did_web_from_host,
    public_key_from_did_key,
)
from badgechain.chain.uid import uid_text

from .badge_routes import BADGE_ROUTES, init_badge_routes
from .didweb import served_document
from .earner_lookup import earner_index_owner
from .problems import Problem
from .routes import Access, Answer, Route
from .web import OPENAPI_DOCUMENT, SERVICES, json_response, parse_uid

__all__ = ["ROUTES", "init_app", "record_json"]

_PAGE = re.compile(r"[0-9]{1,9}")  # page numbers below a billion
# GET /bns/{uid} bodies by the UID text asked, with the record each shows (oldest out).
MAX_BNS_BODIES = 4096
_BNS_BODIES: Final[dict[str, tuple[Record, bytes]]] = {}


def record_json(record: Record) -> dict[str, Any]:
    """A BNS record as the gateway shows it: DIDs and multibase, not raw bytes."""
    entry, location, revocation = record.entry, record.location, record.revocation
    return {
        "uid": uid_text(entry.uid),
        "issuer": did_key_from_public_key(entry.issuer_key),
        "earner": did_key_from_public_key(entry.earner_key) if entry.earner_key else None,
        "created": entry.created,
        "location": None
        if location is None
        else {"urls": list(location.urls), "seq": location.seq, "hidden": not location.urls},
        "revoked": revocation is not None,
        "revocation": None
        if revocation is None
        else {"reason": revocation.reason, "revokedAt": revocation.revoked_at},
    }


async def get_bns(request: web.Request) -> web.Response:
    """GET /bns/{uid}: the merged, validated BNS record of a UID.

    The NameService answers a UID asked again from its cache (bns/service.py); the answer's
    JSON is kept with the record it shows, so an unchanged record is not rendered again
    (base58 of the UID and the keys is most of the work)."""
    node = request.app[SERVICES]
    text = request.match_info["uid"]
    shown = _BNS_BODIES.get(text)
    uid = shown[0].entry.uid if shown is not None else parse_uid(text)
    record = await node.names.resolve(uid)
    if shown is None or shown[0] is not record:
        shown = (record, json.dumps(record_json(record), ensure_ascii=False).encode())
        _BNS_BODIES[text] = shown
        while len(_BNS_BODIES) > MAX_BNS_BODIES:
            _BNS_BODIES.pop(next(iter(_BNS_BODIES)))
    return web.Response(body=shown[1], content_type="application/json", charset="utf-8")


async def get_health(request: web.Request) -> web.Response:
    node = request.app[SERVICES]
    name = node.config.issuer_name or node.config.name  # the web page's name for this node
    named = {"status": "ok", "did": node.did, "name": name}
    return json_response(named | node.dht_health())


# -- BNS indexes -----------------------------------------------------------------------------


def _page_number(request: web.Request) -> int:
    text = request.query.get("page", "0")
    if not _PAGE.fullmatch(text):
        raise Problem(400, "page_invalid", "page is a number from 0")
    return int(text)


def _index_key(did: str) -> PublicKey:
    if not did.startswith("did:key:"):
        raise Problem(400, "did_unsupported", "BNS indexes are kept by did:key")
    return public_key_from_did_key(did)


def _next_link(request: web.Request, full: bool, page: int) -> str | None:
    return str(request.rel_url.with_query(page=page + 1)) if full else None


async def get_issuer_badges(request: web.Request) -> web.Response:
    """GET /issuers/{did}/badges?page=N: one page of the issuer's BNS index."""
    node = request.app[SERVICES]
    did, number = request.match_info["did"], _page_number(request)
    page = await node.names.issuer_page(_index_key(did), number)
    items = [{"uid": uid_text(item.uid)} for item in page.items]
    return json_response(
        {
            "issuer": did,
            "page": number,
            "items": items,
            "next": _next_link(request, page_is_full(page), number),
        }
    )


async def get_earner_badges(request: web.Request) -> web.Response:
    """GET /earners/{id}/badges?page=N: one page of the earner's BNS index."""
    node = request.app[SERVICES]
    earner, number = request.match_info["id"], _page_number(request)
    owner = await earner_index_owner(node, earner)  # a persona's or did:web's key too
    page = await node.names.earner_page(owner.key, number)
    items = [
        {
            "uid": uid_text(entry.uid),
            "issuer": did_key_from_public_key(entry.issuer_key),
            "created": entry.created,
        }
        for entry in entries_signed_by(page, owner.key)
    ]
    return json_response(
        {
            "earner": earner,
            "key": did_key_from_public_key(owner.key),
            "page": number,
            "items": items,
            "next": _next_link(request, page_is_full(page), number),
        }
    )


# -- identity and description ----------------------------------------------------------------


def _did_web_host(request: web.Request) -> tuple[str, int | None]:
    """The host and port the client reached this node by; loopback addresses are `localhost`,
    since did:web names a domain, never an IP address."""
    try:  # the Host header is the client's: yarl raises on a bad port or IDNA label
        host, port = request.url.host or "localhost", request.url.explicit_port
    except ValueError as exc:  # UnicodeError included
        raise Problem(400, "host_invalid", "the Host header names no valid host") from exc
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host, port
    if address.is_loopback:
        return "localhost", port
    raise Problem(404, "did_web_needs_domain", "did:web names a domain: ask by the node's name")


async def get_did_document(request: web.Request) -> web.Response:
    """GET /.well-known/did.json: the document of the did:web this node issues as (when it
    has no path), else a did:web document for the host name it was reached by."""
    configured = served_document(request.app[SERVICES], request.path)
    if configured is not None:
        return json_response(configured)
    did = did_web_from_host(*_did_web_host(request))
    return json_response(build_did_web_document(did, request.app[SERVICES].key))


async def get_openapi(request: web.Request) -> web.Response:
    """GET /openapi.json: the OpenAPI 3.1 description of every route this node serves."""
    return json_response(request.app[OPENAPI_DOCUMENT])


def init_app(app: web.Application) -> None:
    """The gateway's state in the app (node/badge_routes.py keeps what the BNS said of cards)."""
    init_badge_routes(app)


ROUTES: Final = (
    Route(
        "GET",
        "/bns/{uid}",
        get_bns,
        "The merged BNS record of a UID",
        access=Access.PUBLIC,
        ok=Answer("BnsRecord"),
        errors=(400, 404, 503),
    ),
    Route(
        "GET",
        "/health",
        get_health,
        "Liveness: the node's DID and its DHT contact count",
        access=Access.PUBLIC,
        ok=Answer("Health"),
    ),
    *BADGE_ROUTES,
    Route(
        "GET",
        "/issuers/{did}/badges",
        get_issuer_badges,
        "A page of an issuer's BNS index (did:key)",
        access=Access.PUBLIC,
        ok=Answer("IssuerPage"),
        query=(("page", "page"),),
        errors=(400, 503),
    ),
    Route(
        "GET",
        "/earners/{id}/badges",
        get_earner_badges,
        "A page of an earner's BNS index (did:key, did:web or persona urn:bns:)",
        access=Access.PUBLIC,
        ok=Answer("EarnerPage"),
        query=(("page", "page"),),
        params=(("id", "did"),),
        errors=(400, 404, 422, 502, 503),
    ),
    Route(
        "GET",
        "/.well-known/did.json",
        get_did_document,
        "This node's did:web document, for the host name it was reached by",
        access=Access.PUBLIC,
        ok=Answer("DidDocument"),
        errors=(400, 404),
    ),
    Route(
        "GET",
        "/openapi.json",
        get_openapi,
        "This document",
        access=Access.PUBLIC,
        ok=Answer("Json"),
    ),
)
