"""Presentation routes (issue 14 items 1-2, docs/presentations.md).

POST /admin/present           {uids, challenge, domain, staple?}  → the signed presentation
POST /presentations/challenge {domain?}                           → 201 {challenge, domain, expires}
POST /presentations/verify    {verifiablePresentation, options: {challenge, domain?}}
                                                                  → 200 / 422 (W3C VC API)
GET  /badges/{uid}/stapled                                        → the badge with its staple
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Final

from aiohttp import web

from badgechain.bns.staple_reader import with_record_reader
from badgechain.chain.credential import CredentialView
from badgechain.chain.holder import MAX_BINDING_CHARS, Binding, HolderError
from badgechain.chain.holder import verify_holder_presentation as verify_holder
from badgechain.chain.report import Report
from badgechain.chain.resolve import Resolvers
from badgechain.chain.staple_wire import credential_uid_text
from badgechain.chain.stapled import presentation_staples
from badgechain.chain.uid import Uid
from badgechain.chain.verify import verify_credential

from .badgestore import load_badge, load_state
from .challenges import check_challenge, consume_challenge, issue_challenge
from .holder import present, stapled_badge
from .problems import Problem, problem_response
from .resolvers import node_context, verify_with
from .routes import Access, Answer, Body, Route, json_body
from .states import NOT_SERVED
from .web import SERVICES, json_response, parse_uid

__all__ = ["ROUTES"]

MAX_PRESENTATION_BYTES: Final = 2 * 1024 * 1024  # 8 badges, their chains and staples
_MAX_ASK_BYTES: Final = 4 * 1024
_MAX_SHOWN_CHARS: Final = 300  # of a carried credential's issuer and name, in the summary
MAX_LISTED: Final = 16  # credentials summarised in an answer (a presentation carries at most 8)


def _object(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    body = json_body(request, absent={})
    if not isinstance(body, dict):
        raise Problem(400, "body_invalid", "the body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise Problem(400, "field_unknown", f"unknown field {sorted(unknown)[0]!r:.40}")
    return body


def _binding(challenge: object, domain: object) -> Binding:
    if not isinstance(challenge, str) or not isinstance(domain, str):
        raise Problem(400, "binding_invalid", "challenge and domain are strings")
    try:
        return Binding(challenge, domain)
    except HolderError as exc:
        raise Problem(400, exc.code, exc.message) from exc


def _uids(value: object) -> list[Uid]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Problem(400, "uids_invalid", "uids is a list of badge UIDs")
    return [parse_uid(item) for item in value]


async def post_present(request: web.Request) -> web.Response:
    """POST /admin/present: a presentation of held badges, signed by this node's key."""
    body = _object(request, {"uids", "challenge", "domain", "staple"})
    binding = _binding(body.get("challenge"), body.get("domain"))
    staple = body.get("staple", True)
    if not isinstance(staple, bool):
        raise Problem(400, "staple_invalid", "staple is true or false")
    signed = await present(request.app[SERVICES], _uids(body.get("uids")), binding, staple=staple)
    return json_response(signed)


async def post_challenge(request: web.Request) -> web.Response:
    """POST /presentations/challenge: a single-use challenge, with its expiry."""
    node = request.app[SERVICES]
    body = _object(request, {"domain"})
    domain = body.get("domain", node.gateway_url)
    if not isinstance(domain, str) or not 0 < len(domain) <= MAX_BINDING_CHARS:
        raise Problem(400, "domain_invalid", f"domain is 1 to {MAX_BINDING_CHARS} characters")
    issued = issue_challenge(node.store, domain, node.clock())
    answer = {
        "challenge": issued.binding.challenge,
        "domain": issued.binding.domain,
        "expires": issued.expires.isoformat(),
    }
    return json_response(answer, status=201)


def _verify_request(body: object) -> tuple[dict[str, Any], str, str | None]:
    if not isinstance(body, dict):
        raise Problem(400, "request_invalid", "the body is a JSON object")
    presentation = body.get("verifiablePresentation")
    options = body.get("options", {})
    if not isinstance(presentation, dict) or not isinstance(options, dict):
        raise Problem(400, "request_invalid", "verifiablePresentation and options are JSON objects")
    challenge, domain = options.get("challenge"), options.get("domain")
    if not isinstance(challenge, str):
        raise Problem(400, "challenge_missing", "options.challenge names the challenge asked")
    if domain is not None and not isinstance(domain, str):
        raise Problem(400, "domain_invalid", "options.domain is a string")
    return presentation, challenge, domain


async def _verified(
    request: web.Request, presentation: dict[str, Any], binding: Binding
) -> tuple[Report, list[Report]]:
    """The presentation verified online with this node's resolvers, staples readable; and
    each carried credential's own report, in order (for the web page's list)."""
    seen: list[Report] = []

    def recording(
        credential: object, *, now: datetime, resolvers: Resolvers | None = None
    ) -> Report:
        report = verify_credential(credential, now=now, resolvers=resolvers)
        seen.append(report)
        return report

    async def run(
        _data: bytes, now: datetime, resolvers: Resolvers, _uid: str | None, _who: str | None
    ) -> Report:
        return await asyncio.to_thread(
            verify_holder,
            presentation,
            binding,
            now=now,
            resolvers=with_record_reader(resolvers),
            verify_credential=recording,
        )

    report = await verify_with(node_context(request.app[SERVICES]), b"", run=run)
    return report, seen


def _credential_summary(
    index: int, credential: object, report: Report | None, staples: dict[str, object]
) -> dict[str, Any]:
    """One carried credential as the web page lists it: its UID, issuer, name, verdict (None:
    not verified, the presentation failed first), the first failed or blocking check, and
    whether the holder stapled its status."""
    item = credential if isinstance(credential, dict) else {}
    uid = credential_uid_text(item)
    view = CredentialView(item)
    blocking = (
        None
        if report is None
        else report.failed or next((check for check in report.checks if check.blocking), None)
    )
    return {
        "index": index,
        "uid": uid,
        "issuer": view.issuer_id[:_MAX_SHOWN_CHARS],
        "name": (view.name or "")[:_MAX_SHOWN_CHARS] or None,
        "verdict": None if report is None else report.verdict,
        "problem": None if blocking is None else blocking.to_json(),
        "stapled": uid is not None and uid in staples,
    }


def _credentials(presentation: dict[str, Any], seen: list[Report]) -> list[dict[str, Any]]:
    carried = presentation.get("verifiableCredential", [])
    carried = carried if isinstance(carried, list) else [carried]
    staples = presentation_staples(presentation)
    reports: list[Report | None] = [*seen[: len(carried)]]
    reports += [None] * (len(carried) - len(reports))
    return [
        _credential_summary(index, item, report, staples)
        for index, (item, report) in enumerate(zip(carried[:MAX_LISTED], reports, strict=False))
    ]


def _result(
    report: Report, presentation: dict[str, Any], binding: Binding, seen: list[Report]
) -> dict[str, Any]:
    failed = [check for check in report.checks if check.status == "failed"]
    holder = presentation.get("holder")
    return {
        "verified": report.verdict == "valid",
        "holder": holder if isinstance(holder, str) else None,
        "challenge": binding.challenge,
        "domain": binding.domain,
        "credentials": _credentials(presentation, seen),
        "checks": [check.name for check in report.checks if check.status == "passed"],
        "warnings": [
            {"code": check.code, "title": check.name, "detail": check.message}
            for check in report.checks
            if check.status == "skipped" and check.code != "not_reached"
        ],
        "errors": [
            {"code": check.code, "title": check.name, "detail": check.message} for check in failed
        ],
        "report": report.to_json(),
    }


async def post_presentations_verify(request: web.Request) -> web.Response:
    """POST /presentations/verify (W3C VC API): 200 when the presentation verifies for a
    challenge this node handed out, unused and unexpired; 422 with the report otherwise.
    The challenge is used up by a presentation signed for it, whatever else its verdict."""
    node = request.app[SERVICES]
    presentation, challenge, domain = _verify_request(json_body(request))
    if domain is None:  # the verifier's own, as it handed it out with the challenge
        domain = check_challenge(node.store, challenge, None, node.clock()).domain
    binding = check_challenge(node.store, challenge, domain, node.clock())
    report, seen = await _verified(request, presentation, binding)
    if report.check("proof").status == "passed":  # signed for it: used up
        consume_challenge(node.store, challenge, domain, node.clock())
    result = _result(report, presentation, binding, seen)
    if report.verdict == "valid":
        return json_response(result)
    first = report.failed
    detail = f"{first.name} failed [{first.code}]: {first.message}" if first else "not verified"
    code = first.code if first is not None else "presentation_indeterminate"
    return problem_response(422, code, detail, **result)


async def get_stapled_badge(request: web.Request) -> web.Response:
    """GET /badges/{uid}/stapled: a badge this node serves, with its staple."""
    node = request.app[SERVICES]
    uid = parse_uid(request.match_info["uid"])
    credential = load_badge(node.store, uid)
    state = (load_state(node.store, uid) or {}).get("state")
    if credential is None or state in NOT_SERVED:
        raise Problem(404, "badge_not_found", "this node serves no badge with that UID")
    return json_response(await stapled_badge(node, uid, credential))


ROUTES: Final = (
    Route(
        "POST",
        "/admin/present",
        post_present,
        "Present held badges (and the personas they are issued to) to a verifier: a "
        "VerifiablePresentation signed by this node's key for its challenge and domain",
        access=Access.ADMIN,
        ok=Answer("Json"),
        body=Body("PresentRequest", max_bytes=_MAX_ASK_BYTES),
        errors=(404, 422),
    ),
    Route(
        "POST",
        "/presentations/challenge",
        post_challenge,
        "A single-use challenge for a presentation, with its expiry",
        access=Access.PUBLIC,
        tag="vc-api",
        ok=Answer("Challenge", status=201),
        body=Body("ChallengeRequest", max_bytes=_MAX_ASK_BYTES, required=False),
        errors=(503,),
    ),
    Route(
        "POST",
        "/presentations/verify",
        post_presentations_verify,
        "W3C VC API: verify a presentation for a challenge this node handed out (200 only "
        "when it verifies)",
        access=Access.PUBLIC,
        tag="vc-api",
        ok=Answer("VerificationResult"),
        body=Body("PresentationVerifyRequest", max_bytes=MAX_PRESENTATION_BYTES),
        errors=(422,),
    ),
    Route(
        "GET",
        "/badges/{uid}/stapled",
        get_stapled_badge,
        "A badge this node serves, with its staple: the issuer's signed status list and the "
        "latest BNS record of its UID",
        access=Access.PUBLIC,
        ok=Answer("Json"),
        errors=(400, 404),
    ),
)
