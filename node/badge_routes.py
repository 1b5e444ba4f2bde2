"""Public routes of the badges this node holds (DESIGN.md "Gateway"): the credential as
signed, baked into its class image (PNG), as a badge card (SVG) with a revoked mark, or, for a
client preferring text/html at /badges/{uid}, as a page to read (node/badge_page.py)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
from typing import Any, Final

from aiohttp import web

from badgechain.chain.bake import bake_png, bake_svg
from badgechain.chain.credential import CredentialView
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.images import badge_card, default_png, render_badge_svg
from badgechain.chain.uid import Uid, uid_text

from . import webmention
from .badge_page import BadgePage, render_badge_page, wants_html
from .badgestore import load_badge, load_state
from .page_routes import CONTENT_SECURITY_POLICY
from .problems import Problem
from .routes import Access, Answer, Route
from .states import NOT_SERVED
from .web import SERVICES, parse_uid

__all__ = ["BADGE_ROUTES", "MAX_CARD_ANSWERS", "init_badge_routes"]

_MAX_EMBEDDED_IMAGE_CHARS = 4 * 1024 * 1024
# What the BNS said about a card's badge is reused for NodeSettings.card_answer_s, so
# anonymous requests for cards do not each cost a DHT lookup; a revocation, being
# permanent, is kept for good.
MAX_CARD_ANSWERS = 4096
_CARD_ANSWERS: Final = web.AppKey("card_answers", dict)
_CARD_CACHE_CONTROL: Final = "public, max-age=60"  # revocation shows within a minute
# A credential never changes; whether it is served does (a hide also empties its BNS location).
_BADGE_CACHE_CONTROL: Final = "public, max-age=60"
# The badge page: the web page's policy (it runs no script at all), cached as the card is,
# since it shows the revocation too.
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": _CARD_CACHE_CONTROL,
}


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
    """GET /badges/{uid}.json: the credential, exactly as signed. With an ETag and a short
    max-age, so a verifier fetching it again (GET /verify/{uid}) reuses its copy, then asks
    with If-None-Match and gets a 304."""
    body = json.dumps(_served_badge(request), ensure_ascii=False).encode()
    return _answer(request, body, "application/json", {"Cache-Control": _BADGE_CACHE_CONTROL})


async def get_badge_negotiated(request: web.Request) -> web.Response:
    """GET /badges/{uid}: the badge's page for a client preferring text/html (a browser, a
    Webmention verifier), else the credential as at .json, byte for byte."""
    if not wants_html(request.headers.get("Accept", "")):
        answer = await get_badge(request)
    else:
        uid, credential = _served(request)
        node = request.app[SERVICES]
        page = BadgePage(
            credential,
            uid_text(uid),
            node.gateway_url,
            revoked=await _is_revoked(request, uid),
            mentions=webmention.mentions(node, uid),
        )
        answer = _answer(request, render_badge_page(page), "text/html", _PAGE_HEADERS)
    answer.headers["Vary"] = "Accept"
    # Webmention §3.1.2: a sender finds the endpoint in this header first, whichever
    # representation it was given (many send Accept: */* and get the JSON).
    answer.headers["Link"] = f'<{request.app[SERVICES].gateway_url}/webmention>; rel="webmention"'
    return answer


def _answer(request: web.Request, body: bytes, media: str, headers: dict[str, str]) -> web.Response:
    """`body` with its ETag, or 304 when the client holds it (If-None-Match)."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = headers | {"ETag": etag}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type=media, charset="utf-8", headers=headers)


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


def init_badge_routes(app: web.Application) -> None:
    """What the BNS said about the badges of cards, per app."""
    app[_CARD_ANSWERS] = {}


_BADGE_ERRORS: Final = (400, 404)
BADGE_ROUTES: Final = (
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
        get_badge_negotiated,
        "A badge this node holds: as JSON, or as a page for a client preferring text/html",
        access=Access.PUBLIC,
        ok=Answer("Credential"),
        also=(
            Answer("Text", media="text/html", description="the badge's page (Accept: text/html)"),
        ),
        errors=_BADGE_ERRORS,
    ),
)
