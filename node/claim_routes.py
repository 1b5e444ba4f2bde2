"""Email-claim routes (issue 14 item 7, docs/claims.md).

POST /claims/{uid}   {code, earner: did:key, created, proof}
                                                    → 200 {credential}: the issuer's node
                     checks the earner key's signature over the claim (node/claim_proof.py)
                     and the one-time code, and signs the hand-over naming the earner key
POST /admin/claims   {uid, code, issuer?: URL}      → 200 {uid, state}: the earner's node asks
                     the issuer's, then keeps the badge and publishes its own location
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import public_key_from_did_key
from badgechain.chain.uid import uid_text

from . import claims
from .claim_proof import ClaimProof
from .problems import Problem, problem_response
from .routes import Access, Answer, Body, Route, json_body
from .web import SERVICES, json_response, parse_uid

__all__ = ["ROUTES"]

_MAX_CLAIM_BYTES: Final = 4 * 1024
_MAX_URL_CHARS: Final = 2048


def _object(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    body = json_body(request)
    if not isinstance(body, dict):
        raise Problem(400, "body_invalid", "the body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise Problem(400, "field_unknown", f"unknown field {sorted(unknown)[0]!r:.40}")
    return body


def _code(body: dict[str, Any]) -> str:
    code = body.get("code")
    if not isinstance(code, str) or not 0 < len(code) <= claims.MAX_CODE_CHARS:
        raise Problem(400, "claim_code_invalid", "`code` is the code from the claim mail")
    return code


async def post_redeem(request: web.Request) -> web.Response:
    """POST /claims/{uid} (public): spend a claim code on an earner key."""
    body = _object(request, {"code", "earner", "created", "proof"})
    earner = body.get("earner")
    try:
        if not isinstance(earner, str) or len(earner) > 100:
            raise BadgeChainError("not a did:key", code="earner_invalid")
        earner_key = public_key_from_did_key(earner)
    except BadgeChainError as exc:
        raise Problem(400, "earner_invalid", "`earner` is the earner's did:key") from exc
    uid = parse_uid(request.match_info["uid"])
    code = _code(body)
    proof = ClaimProof.from_json(body.get("created"), body.get("proof"))  # None: checked later
    try:
        credential = await claims.redeem(request.app[SERVICES], uid, code, earner_key, proof)
    except claims.ClaimError as exc:
        if exc.retry_after_s is None:
            raise
        answer = problem_response(exc.http_status, exc.code, exc.message)
        answer.headers["Retry-After"] = str(exc.retry_after_s)
        return answer
    return json_response({"credential": credential})


async def post_claim(request: web.Request) -> web.Response:
    """POST /admin/claims: claim an email-only badge for this node's key."""
    body = _object(request, {"uid", "code", "issuer"})
    uid_value, issuer = body.get("uid"), body.get("issuer")
    if not isinstance(uid_value, str):
        raise Problem(400, "uid_invalid", "the body needs a `uid`: the badge's proofValue")
    if issuer is not None and (
        not isinstance(issuer, str)
        or len(issuer) > _MAX_URL_CHARS
        or not issuer.startswith(("https://", "http://"))
    ):
        raise Problem(400, "issuer_invalid", "`issuer` is the issuer's gateway URL")
    uid = parse_uid(uid_value)
    state = await claims.claim(request.app[SERVICES], uid, _code(body), issuer)
    return json_response({"uid": uid_text(uid), "state": state.get("state")})


ROUTES: Final = (
    Route(
        "POST",
        "/claims/{uid}",
        post_redeem,
        "Claim an email-only badge with the code its issuer mailed: the issuer's node signs "
        "the BNS hand-over naming the earner's key and answers the badge",
        access=Access.PUBLIC,
        ok=Answer("ClaimAnswer"),
        body=Body("ClaimRedeem", max_bytes=_MAX_CLAIM_BYTES),
        errors=(404, 409, 422, 429, 503),
    ),
    Route(
        "POST",
        "/admin/claims",
        post_claim,
        "Claim an email-only badge for this node's key: ask its issuer's node, then keep "
        "the badge and publish this node as its location",
        access=Access.ADMIN,
        ok=Answer("ClaimResult"),
        body=Body("ClaimRequest", max_bytes=_MAX_CLAIM_BYTES),
        errors=(404, 409, 422, 429, 503),
    ),
)
