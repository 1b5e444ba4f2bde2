"""Public verification routes: POST /verify, GET /verify/{uid} and the W3C VC API's
POST /credentials/verify. Each answers with the report of chain.verify run online.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from badgechain.chain.uid import uid_text
from badgechain.chain.verify import (
    CHECK_NAMES,
    MAX_INPUT_BYTES,
    Check,
    Report,
    input_too_large_report,
)

from .badgecache import badge_cache_of
from .problems import Problem, problem_response
from .routes import Access, Answer, Body, Route, json_body
from .verifycache import verify_at_gateway, verify_json_at_gateway
from .web import MAX_JSON_BYTES, SERVICES, json_response, parse_uid

__all__ = ["MAX_VC_API_BYTES", "ROUTES", "read_body"]

# What POST /verify reads as the badge itself (chain.verify sniffs which of them it is).
BADGE_MEDIA_TYPES: Final = frozenset(
    {
        "application/json",
        "application/ld+json",
        "application/vc+ld+json",
        "text/plain",
        "application/jwt",
        "application/vc+jwt",
        "image/png",
        "image/svg+xml",
    }
)
JSON_MEDIA_TYPES: Final = frozenset({"application/json", "application/ld+json"})
MAX_VC_API_BYTES = MAX_JSON_BYTES + 64 * 1024  # a credential plus the request's envelope
_MULTIPART_FRAMING_BYTES = 64 * 1024
_MAX_FORM_PARTS = 8
_CHUNK_BYTES = 64 * 1024


def _answerable(report: Report) -> Report:
    """The report, unless our verifier crashed on a check: that says nothing about the badge,
    so the client gets a 503 to retry, never a verdict (issue 17)."""
    if any(check.code == "internal_error" for check in report.checks):
        raise _unavailable()
    return report


def _unavailable() -> Problem:
    return Problem(503, "verifier_unavailable", "the verifier failed this time; try again")


def _too_large(max_bytes: int) -> Problem:
    return Problem(413, "body_too_large", f"the body is over {max_bytes} bytes")


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """The whole request body, refused past `max_bytes` (without reading much further)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_part(part: BodyPartReader, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def _form_file(request: web.Request) -> bytes:
    """The first file of a multipart/form-data upload (or its only field); a body aiohttp
    cannot parse (no or a bad boundary, bad part headers) is a 400, never a 500."""
    limit = MAX_INPUT_BYTES + _MULTIPART_FRAMING_BYTES
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(MAX_INPUT_BYTES)
    try:
        return await _first_file(request)
    except (ValueError, LookupError, HttpProcessingError) as exc:  # UnicodeError is a ValueError
        raise Problem(400, "form_invalid", f"a malformed multipart body: {exc!s:.100}") from exc


async def _first_file(request: web.Request) -> bytes:
    reader = await request.multipart()
    for _ in range(_MAX_FORM_PARTS):
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise Problem(400, "form_invalid", "a nested multipart body is not a badge")
        if part.filename is not None or part.name in ("file", "badge"):
            return await _read_part(part, MAX_INPUT_BYTES)
    raise Problem(400, "file_missing", "the form carries no file field with the badge")


async def _badge_upload(request: web.Request) -> bytes:
    if request.content_type == "multipart/form-data":
        return await _form_file(request)
    if request.content_type not in BADGE_MEDIA_TYPES:
        raise Problem(
            415,
            "unsupported_media_type",
            "send the badge as application/json, text/plain, image/png, image/svg+xml "
            "or multipart/form-data",
        )
    return await read_body(request, MAX_INPUT_BYTES)


_MAX_RECIPIENT_CHARS = 320


def _recipient(request: web.Request) -> str | None:
    """`?recipient=`: the identity (an email) an OB 2.0 badge must be for (CLI --recipient)."""
    recipient = request.query.get("recipient")
    if recipient is not None and not 0 < len(recipient) <= _MAX_RECIPIENT_CHARS:
        raise Problem(400, "recipient_invalid", "recipient is 1 to 320 characters")
    return recipient


async def post_verify(request: web.Request) -> web.Response:
    """POST /verify: the report on the badge in the body, whatever its verdict; a badge
    over the input limit gets its report too (invalid, input_too_large), as on the CLI."""
    recipient = _recipient(request)
    try:
        data = await _badge_upload(request)
    except Problem as exc:
        if exc.code != "body_too_large":
            raise
        return json_response(input_too_large_report().to_json())
    # Made into JSON where it was made (a worker process): the node only sends the bytes.
    ready = await verify_json_at_gateway(request.app[SERVICES], data, recipient=recipient)
    if ready.failed_inside:  # as _answerable: a crash of ours is no verdict
        raise _unavailable()
    return web.Response(body=ready.body, content_type="application/json", charset="utf-8")


async def get_verify_uid(request: web.Request) -> web.Response:
    """GET /verify/{uid}: resolve the UID, fetch the badge from its location, verify it.
    A badge seen before is fetched again only as HTTP says (node/badgecache.py), and its
    report reused while all it depended on holds (node/verifycache.py)."""
    node = request.app[SERVICES]
    uid = parse_uid(request.match_info["uid"])
    include = request.query.get("include")
    if include not in (None, "credential"):
        raise Problem(400, "include_invalid", "include names what to add: only credential")
    data = await badge_cache_of(node).fetch(node, uid)
    report = _answerable(await verify_at_gateway(node, data, expected_uid=uid_text(uid), keep=True))
    answer = report.to_json()
    # ?include=credential: the badge as fetched, so a page can show one this node does not hold
    if include and isinstance(report.credential, dict):
        answer["credential"] = report.credential
    return json_response(answer)


# -- W3C VC API ------------------------------------------------------------------------------


# VC API check names that are not this verifier's own (docs/verification.md).
_CHECK_ALIASES: Final = {"credentialStatus": "status", "expiration": "validity"}
_MAX_ASKED_CHECKS = 32
_ENVELOPED_JWT = ("data:application/vc+jwt,", "data:application/jwt,")


def _vc_api_request(body: object) -> tuple[bytes, frozenset[str] | None]:
    """The credential of a VC API verify request, as bytes for chain.verify, and the checks
    `options.checks` names (None: all). A malformed request is a 400 Problem."""
    if not isinstance(body, dict):
        raise Problem(400, "request_invalid", "the body is a JSON object")
    options = body.get("options", {})
    if not isinstance(options, dict):
        raise Problem(400, "request_invalid", "options must be an object")
    credential = body.get("verifiableCredential")
    if not isinstance(credential, dict):
        raise Problem(400, "request_invalid", "verifiableCredential must be a JSON object")
    return _credential_bytes(credential), _asked_checks(options.get("checks"))


def _credential_bytes(credential: dict[str, Any]) -> bytes:
    """A VC-JWT travels as an EnvelopedVerifiableCredential (its id a data: URL)."""
    types = credential.get("type")
    if types == "EnvelopedVerifiableCredential" or (
        isinstance(types, list) and "EnvelopedVerifiableCredential" in types
    ):
        envelope = credential.get("id")
        if not isinstance(envelope, str) or not envelope.startswith(_ENVELOPED_JWT):
            raise Problem(
                400, "request_invalid", "an enveloped credential is a data: URL of a VC-JWT"
            )
        return envelope.partition(",")[2].encode()
    return json.dumps(credential, ensure_ascii=False).encode()


def _asked_checks(checks: object) -> frozenset[str] | None:
    if checks is None:
        return None
    if (
        not isinstance(checks, list)
        or len(checks) > _MAX_ASKED_CHECKS
        or not all(isinstance(name, str) for name in checks)
    ):
        raise Problem(400, "request_invalid", "options.checks must be a list of check names")
    names = frozenset(str(_CHECK_ALIASES.get(name, name)) for name in checks)
    unknown = sorted(names - set(CHECK_NAMES))
    if unknown:
        raise Problem(
            400,
            "check_unknown",
            f"unknown check {unknown[0]!r:.60}; checks are {', '.join(CHECK_NAMES)}",
        )
    return names


def verdict_for(report: Report, asked: frozenset[str] | None) -> str:
    """The verdict when only the `asked` checks decide (the input must always be readable).
    A check asked for and not reached is not valid: it was not checked."""
    if asked is None:
        return report.verdict
    deciding = [check for check in report.checks if check.name in asked | {"input"}]
    if any(check.status == "failed" for check in deciding):
        return "invalid"
    if any(check.blocking or check.code == "not_reached" for check in deciding):
        return "indeterminate"
    return "valid"


def _problem_detail(check: Check) -> dict[str, str]:
    return {
        "type": f"https://badgechain.example/problems/{check.code}",
        "title": check.name,
        "detail": check.message,
        "code": check.code,
    }


def _vc_api_result(report: Report, verdict: str) -> dict[str, Any]:
    return {
        "verified": verdict == "valid",
        "checks": [check.name for check in report.checks if check.status == "passed"],
        "warnings": [
            _problem_detail(check)
            for check in report.checks
            if check.status == "skipped" and check.code != "not_reached"
        ],
        "errors": [_problem_detail(check) for check in report.checks if check.status == "failed"],
        "report": report.to_json(),
    }


async def post_credentials_verify(request: web.Request) -> web.Response:
    """POST /credentials/verify (W3C VC API): 200 when the credential verifies, 400 for a
    malformed request, else 422 with the report. `options.checks` names the checks that
    decide; the others are still run and reported. The body is read and parsed as declared
    (node/routes.py: 415 for another media type, 413 past MAX_VC_API_BYTES, 400 for bad JSON)."""
    data, asked = _vc_api_request(json_body(request))
    report = _answerable(await verify_at_gateway(request.app[SERVICES], data))
    verdict = verdict_for(report, asked)
    result = _vc_api_result(report, verdict)
    if verdict == "valid":
        return json_response(result)
    failed = next(
        (c for c in report.checks if c.status == "failed" and (asked is None or c.name in asked)),
        None,
    )
    detail = (
        f"{failed.name} failed [{failed.code}]: {failed.message}"
        if failed
        else "a check could not be completed"
    )
    return problem_response(422, f"credential_{verdict}", detail, **result)


# POST /verify streams its body itself: an oversized badge gets a report, not a 413.
ROUTES: Final = (
    Route(
        "POST",
        "/verify",
        post_verify,
        "Verify a badge (JSON, pasted JSON or VC-JWT, baked PNG or SVG, or a form upload); "
        "the verdict is in the report",
        access=Access.PUBLIC,
        ok=Answer("Report"),
        body=Body(
            "BadgeUpload",
            media=(*sorted(BADGE_MEDIA_TYPES), "multipart/form-data"),
            max_bytes=MAX_INPUT_BYTES,
            parsed=False,
        ),
        errors=(400,),
    ),
    Route(
        "GET",
        "/verify/{uid}",
        get_verify_uid,
        "Resolve a UID, fetch its badge from its location and verify it "
        "(include=credential: with the badge fetched)",
        access=Access.PUBLIC,
        ok=Answer("Report"),
        query=(("include", "include"),),
        errors=(400, 404, 502, 503),
    ),
    Route(
        "POST",
        "/credentials/verify",
        post_credentials_verify,
        "W3C VC API: verify a credential (200 only when it verifies)",
        access=Access.PUBLIC,
        tag="vc-api",
        ok=Answer("VerificationResult"),
        body=Body(
            "VerifyRequest",
            media=tuple(sorted(JSON_MEDIA_TYPES)),
            max_bytes=MAX_VC_API_BYTES,
        ),
        errors=(400, 422),
    ),
)
