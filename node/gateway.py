"""Public gateway routes: what anyone may ask a node (DESIGN.md "Gateway").

The BNS view of a UID, the badges this node holds (JSON, or baked into an image), the BNS
indexes of an issuer or an earner, the node's did:web document and the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ipaddress
import json
import re
from typing import Any, Final

from aiohttp import web

from badgechain.bns.index import page_is_full
from badgechain.bns.record import Record
from badgechain.chain.bake import bake_png, bake_svg
from badgechain.chain.credential import CredentialView
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.images import badge_card, default_png, render_badge_svg
from badgechain.chain.keys import (
    PublicKey,
    build_did_web_document,
    did_key_from_public_key,
    did_web_from_host,
    public_key_from_did_key,
)
from badgechain.chain.uid import Uid, uid_text

from .badgestore import load_badge, load_state
from .didweb import served_document
from .problems import Problem
from .routes import Access, Answer, Route
from .states import NOT_SERVED
from .web import OPENAPI_DOCUMENT, SERVICES, json_response, parse_uid

__all__ = ["ROUTES", "init_app", "record_json"]

# Badges this node holds but does not show (node/earner.py states): delivered and not yet
# accepted, refused, or hidden by their earner.
_PAGE = re.compile(r"[0-9]{1,9}")  # page numbers below a billion
_MAX_EMBEDDED_IMAGE_CHARS = 4 * 1024 * 1024
# What the BNS said about a card's badge is reused for NodeSettings.card_answer_s, so
# anonymous requests for cards do not each cost a DHT lookup; a revocation, being
# permanent, is kept for good.
MAX_CARD_ANSWERS = 4096
_CARD_ANSWERS: Final = web.AppKey("card_answers", dict)
_CARD_CACHE_CONTROL: Final = "public, max-age=60"  # revocation shows within a minute
# GET /bns/{uid} bodies by the UID text asked, with the record each shows (oldest out).
MAX_BNS_BODIES = 4096
_BNS_BODIES: Final[dict[str, tuple[Record, bytes]]] = {}
# A credential never changes; whether it is served does (a hide also empties its BNS location).
_BADGE_CACHE_CONTROL: Final = "public, max-age=60"


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
    contacts, stats = (node.dht.contact_count(), dict(node.dht.stats)) if node.dht else (0, {})
    named = {"status": "ok", "did": node.did, "name": node.config.name}  # the web page's home
    return json_response(named | {"contacts": contacts, "dht": stats})


# -- badges held here ----------------------------------------------------------------------


def _served_badge(request: web.Request) -> dict[str, Any]:
    """The credential of the UID in the path, unless this node holds none it may show."""
    return _served(request)[1]


def _served(request: web.Request) -> tuple[Uid, dict[str, Any]]:
    node = request.app[SERVICES]
    uid = parse_uid(request.match_info["uid"])
    credential = load_badge(node.store, uid)
    state = load_state(node.store, uid) or {}
    if credential is None or state.get("state") in NOT_SERVED:
        raise Problem(404, "badge_not_found", "this node serves no badge with that UID")
    return uid, credential


def _achievement_image(credential: dict[str, Any], mime: str) -> bytes | None:
    """The class image when the achievement embeds one of type `mime` as a data: URI."""
    image = CredentialView(credential).achievement.get("image")
    uri = image.get("id") if isinstance(image, dict) else image
    prefix = f"data:{mime};base64,"
    if not isinstance(uri, str) or not uri.startswith(prefix):
        return None
    if len(uri) > _MAX_EMBEDDED_IMAGE_CHARS:
        return None
    try:
        return base64.b64decode(uri[len(prefix) :], validate=True)
    except (binascii.Error, ValueError):
        return None


def _baked_png(credential: dict[str, Any]) -> bytes:
    """The credential baked into its PNG class image, or into the default medal."""
    payload = json.dumps(credential, ensure_ascii=False)
    own = _achievement_image(credential, "image/png")
    if own is not None:
        try:
            return bake_png(own, payload)
        except BadgeChainError:
            pass  # a class image we cannot bake into: the default medal still carries the badge
    return bake_png(default_png(), payload)


async def _is_revoked(request: web.Request, uid: Uid) -> bool:
    """Revoked by this node's own record (an issuer marks it), or by the BNS if it answers
    within NodeSettings.card_lookup_timeout_s; a slow or empty DHT leaves the local state
    standing."""
    node = request.app[SERVICES]
    if (load_state(node.store, uid) or {}).get("state") == "revoked":
        return True
    answers: dict[Uid, tuple[bool, float]] = request.app[_CARD_ANSWERS]
    now = node.clock().timestamp()
    revoked, until = answers.get(uid, (False, 0.0))
    if revoked or now < until:
        return revoked
    try:
        async with asyncio.timeout(node.settings.card_lookup_timeout_s):
            record = await node.names.resolve(uid)
    except (TimeoutError, BadgeChainError):
        return False  # not remembered: the next request asks again
    while len(answers) >= MAX_CARD_ANSWERS:
        answers.pop(next(iter(answers)))
    answers[uid] = (record.revocation is not None, now + node.settings.card_answer_s)
    return record.revocation is not None


def _card_svg(credential: dict[str, Any], *, revoked: bool) -> bytes:
    """The badge card (name, issuer, earner, class image, revoked mark), credential baked in."""
    card = badge_card(credential)
    svg = render_badge_svg(
        name=card.name, issuer=card.issuer, earner=card.earner, revoked=revoked, image=card.image
    )
    return bake_svg(svg.encode(), json.dumps(credential, ensure_ascii=False))


async def get_badge(request: web.Request) -> web.Response:
    """GET /badges/{uid} and /badges/{uid}.json: the credential, exactly as signed. With an
    ETag and a short max-age, so a verifier fetching it again (GET /verify/{uid}) reuses
    its copy, then asks with If-None-Match and gets a 304."""
    response = json_response(_served_badge(request))
    assert isinstance(response.body, bytes)
    etag = '"' + hashlib.sha256(response.body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": _BADGE_CACHE_CONTROL}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    response.headers.update(headers)
    return response


async def get_badge_png(request: web.Request) -> web.Response:
    """GET /badges/{uid}.png: the credential baked into its class image (OB 3.0 "Baking")."""
    return web.Response(body=_baked_png(_served_badge(request)), content_type="image/png")


async def get_badge_svg(request: web.Request) -> web.Response:
    """GET /badges/{uid}.svg: the badge card, revoked mark included, with the credential baked
    in; cached briefly, since a revocation must show soon."""
    uid, credential = _served(request)
    body = _card_svg(credential, revoked=await _is_revoked(request, uid))
    return web.Response(
        body=body,
        content_type="image/svg+xml",
        headers={"Cache-Control": _CARD_CACHE_CONTROL},
    )


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
    page = await node.names.earner_page(_index_key(earner), number)
    items = [
        {
            "uid": uid_text(entry.uid),
            "issuer": did_key_from_public_key(entry.issuer_key),
            "created": entry.created,
        }
        for entry in page.entries
    ]
    return json_response(
        {
            "earner": earner,
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
    """The gateway's state in the app: what the BNS said about the badges of cards."""
    app[_CARD_ANSWERS] = {}


_BADGE_ERRORS: Final = (400, 404)
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
    # The suffixed forms first: `{uid}` alone would match "z….png" too.
    Route(
        "GET",
        "/badges/{uid}.json",
        get_badge,
        "A badge this node holds, as JSON",
        access=Access.PUBLIC,
        ok=Answer("Credential"),
        errors=_BADGE_ERRORS,
    ),
    Route(
        "GET",
        "/badges/{uid}.png",
        get_badge_png,
        "A badge this node holds, baked into a PNG",
        access=Access.PUBLIC,
        ok=Answer("Binary", media="image/png"),
        errors=(400, 404, 413),
    ),
    Route(
        "GET",
        "/badges/{uid}.svg",
        get_badge_svg,
        "A badge card (name, issuer, earner, a revoked mark) with the credential baked in",
        access=Access.PUBLIC,
        ok=Answer("Binary", media="image/svg+xml"),
        errors=(400, 404, 413),
    ),
    Route(
        "GET",
        "/badges/{uid}",
        get_badge,
        "A badge this node holds, as JSON",
        access=Access.PUBLIC,
        ok=Answer("Credential"),
        errors=_BADGE_ERRORS,
    ),
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
        "A page of an earner's BNS index (did:key)",
        access=Access.PUBLIC,
        ok=Answer("EarnerPage"),
        query=(("page", "page"),),
        params=(("id", "did"),),
        errors=(400, 503),
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
