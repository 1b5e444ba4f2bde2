"""Routes for a new claim code (docs/claims.md, node/mail_claims.py).

POST /claims/{uid}/resend      {}                → 200 {uid, expires}: the issuer's node mails
                               a new code to the address the badge was issued to (public)
POST /admin/claims/resend      {uid, issuer?}    → 200 {uid, expires}: the earner's node asks
                               the issuer's for it (`badgechain claim UID --resend`)
POST /admin/mail/resend        {uid}             → 200 {uid, expires}: the issuer mails a new
                               code itself (`badgechain mail resend UID`)
A request over the limit is a 429 `claim_resend_rate_limited` with Retry-After.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from . import claims, mail_claims
from .problems import Problem, problem_response
from .routes import Access, Answer, Body, Route, json_body
from .web import SERVICES, json_response, parse_uid

__all__ = ["ROUTES"]

_MAX_BODY_BYTES: Final = 4 * 1024
_MAX_URL_CHARS: Final = 2048


def _body(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    body = json_body(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise Problem(400, "body_invalid", "the body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise Problem(400, "field_unknown", f"unknown field {sorted(unknown)[0]!r:.40}")
    return body


def _uid_field(body: dict[str, Any]) -> str:
    uid = body.get("uid")
    if not isinstance(uid, str):
        raise Problem(400, "uid_invalid", "the body needs a `uid`: the badge's proofValue")
    return uid


async def _answer(work: Callable[[], Awaitable[dict[str, Any]]]) -> web.Response:
    """The work's answer; a rate-limited one as a 429 that says when to come back."""
    try:
        return json_response(await work())
    except claims.ClaimError as exc:
        if exc.retry_after_s is None:
            raise
        answer = problem_response(exc.http_status, exc.code, exc.message)
        answer.headers["Retry-After"] = str(exc.retry_after_s)
        return answer


async def post_resend(request: web.Request) -> web.Response:
    """POST /claims/{uid}/resend (public): mail the badge's earner a new code."""
    _body(request, set())
    uid = parse_uid(request.match_info["uid"])

    async def work() -> dict[str, Any]:
        return mail_claims.resend(request.app[SERVICES], uid)

    return await _answer(work)


async def post_ask_resend(request: web.Request) -> web.Response:
    """POST /admin/claims/resend: ask a badge's issuer for a new claim code."""
    body = _body(request, {"uid", "issuer"})
    uid, issuer = parse_uid(_uid_field(body)), body.get("issuer")
    if issuer is not None and (
        not isinstance(issuer, str)
        or len(issuer) > _MAX_URL_CHARS
        or not issuer.startswith(("https://", "http://"))
    ):
        raise Problem(400, "issuer_invalid", "`issuer` is the issuer's gateway URL")
    return await _answer(lambda: mail_claims.ask_resend(request.app[SERVICES], uid, issuer))


async def post_mail_resend(request: web.Request) -> web.Response:
    """POST /admin/mail/resend: this node, the issuer, mails a new claim code."""
    uid = parse_uid(_uid_field(_body(request, {"uid"})))

    async def work() -> dict[str, Any]:
        return mail_claims.resend(request.app[SERVICES], uid)

    return await _answer(work)


_ERRORS: Final = (404, 409, 422, 429, 503)

ROUTES: Final = (
    Route(
        "POST",
        "/claims/{uid}/resend",
        post_resend,
        "Mail a new claim code for an unclaimed email-only badge, to the address it was "
        "issued to (the old code stops working); a few a day per badge",
        access=Access.PUBLIC,
        ok=Answer("ResendAnswer"),
        body=Body("ResendAsk", max_bytes=_MAX_BODY_BYTES, required=False),
        errors=_ERRORS,
    ),
    Route(
        "POST",
        "/admin/claims/resend",
        post_ask_resend,
        "Ask an email-only badge's issuer to mail a new claim code",
        access=Access.ADMIN,
        ok=Answer("ResendAnswer"),
        body=Body("ResendRequest", max_bytes=_MAX_BODY_BYTES),
        errors=_ERRORS,
    ),
    Route(
        "POST",
        "/admin/mail/resend",
        post_mail_resend,
        "Mail a new claim code for an email-only badge this node issued",
        access=Access.ADMIN,
        ok=Answer("ResendAnswer"),
        body=Body("MailResendRequest", max_bytes=_MAX_BODY_BYTES),
        errors=_ERRORS,
    ),
)
