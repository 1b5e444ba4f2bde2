"""Issuer routes (DESIGN.md "Gateway", admin): badge classes, issue one, issue a batch,
batch progress, revoke, and the W3C VC API's `POST /credentials/issue`. Public: the
badge class behind an Achievement id, `GET /classes/{id}`.

The work is in issuer.py; this module checks each request's shape and size.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Final

from aiohttp import web

from badgechain.chain.proof import JCS, RDFC
from badgechain.chain.uid import uid_text

from . import batches, classes, issuer, revocation, vcapi
from .gateway import record_json
from .problems import Problem
from .replication import with_replication
from .routes import Access, Answer, Body, Route, json_body
from .web import SERVICES, json_response, parse_uid

__all__ = ["MAX_BATCH_BODY_BYTES", "MAX_CLASS_BODY_BYTES", "ROUTES"]

# A 256 KiB image is 342 KiB in base64, beside three texts of up to 10,000 characters.
MAX_CLASS_BODY_BYTES = 512 * 1024
MAX_BATCH_BODY_BYTES = 4 * 1024 * 1024
MAX_SMALL_BODY_BYTES = 64 * 1024


def _fields(body: Any, required: set[str], optional: set[str]) -> dict[str, Any]:
    """The body as an object with exactly the fields a route knows."""
    if not isinstance(body, dict):
        raise Problem(400, "body_invalid", "send a JSON object")
    missing = required - set(body)
    if missing:
        raise Problem(400, "field_missing", f"missing field {sorted(missing)[0]!r}")
    unknown = set(body) - required - optional
    if unknown:
        raise Problem(400, "field_unknown", f"unknown field {sorted(unknown)[0]!r:.40}")
    return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise Problem(400, "field_invalid", f"{name} must be text")
    return value


def _image(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Problem(400, "image_invalid", "image must be base64 text (PNG or SVG)")
    if len(value) > (classes.MAX_IMAGE_BYTES // 3 + 1) * 4:
        raise Problem(413, "image_too_large", "the image is over 256 KiB")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Problem(400, "image_invalid", "image must be base64 (PNG or SVG)") from exc


async def post_class(request: web.Request) -> web.Response:
    """POST /admin/classes {name, description, criteria, image?} → 201 {id, achievement}."""
    node = request.app[SERVICES]
    body = _fields(
        json_body(request),
        {"name", "description", "criteria"},
        {"image"},
    )
    record = classes.create_class(
        node,
        name=_text(body, "name"),
        description=_text(body, "description"),
        criteria=_text(body, "criteria"),
        image=_image(body.get("image")),
    )
    return json_response(record.to_json(), status=201)


async def get_classes(request: web.Request) -> web.Response:
    """GET /admin/classes → {classes: [{id, achievement, created}]}."""
    node = request.app[SERVICES]
    listed = [record.to_json() for record in classes.list_classes(node.store)]
    return json_response({"classes": listed})


async def get_class(request: web.Request) -> web.Response:
    """GET /classes/{id}: the Achievement, for whoever follows its id (public)."""
    node = request.app[SERVICES]
    return json_response(classes.load_achievement(node.store, request.match_info["class_id"]))


async def post_issue(request: web.Request) -> web.Response:
    """POST /admin/issue {class_id, to?, email?, valid_until?, evidence?} → 201 {uid, ...}."""
    node = request.app[SERVICES]
    body = _fields(
        json_body(request),
        {"class_id"},
        {"to", "email", "valid_until", "evidence"},
    )
    class_id = _text(body, "class_id")
    recipient = issuer.parse_recipient(
        {name: value for name, value in body.items() if name != "class_id"}, now=node.clock()
    )
    result = await issuer.issue_badge(node, class_id, recipient)
    return json_response(result.to_json(), status=201)


async def post_batch(request: web.Request) -> web.Response:
    """POST /admin/batches {class_id, rows: [...]} → 202 {batch_id, total}."""
    node = request.app[SERVICES]
    body = _fields(json_body(request), {"class_id", "rows"}, set())
    rows = body["rows"]
    if not isinstance(rows, list):
        raise Problem(400, "batch_invalid", "rows must be a list of recipients")
    if len(rows) > batches.MAX_BATCH_ROWS:
        raise Problem(413, "batch_too_large", f"a batch has at most {batches.MAX_BATCH_ROWS} rows")
    now = node.clock()
    recipients = [
        issuer.parse_recipient(row, now=now, where=f"row {number}: ")
        for number, row in enumerate(rows, start=1)
    ]
    header = batches.create_batch(node, _text(body, "class_id"), recipients)
    return json_response({"batch_id": header.id, "total": header.total}, status=202)


async def get_batch(request: web.Request) -> web.Response:
    """GET /admin/batches/{id}[?uids=false] → {total, done, failed, state, uids, ...}."""
    node = request.app[SERVICES]
    with_uids = request.query.get("uids", "true") != "false"
    progress = batches.batch_progress(
        node.store, request.match_info["batch_id"], with_uids=with_uids
    )
    return json_response(progress)


async def post_revoke(request: web.Request) -> web.Response:
    """POST /admin/revoke {uid, reason} → the BNS record, revoked."""
    node = request.app[SERVICES]
    body = _fields(json_body(request), {"uid", "reason"}, set())
    uid = parse_uid(_text(body, "uid"))
    record = await revocation.revoke_badge(node, uid, _text(body, "reason"))
    if record is None:  # recorded and in the status list; the node publishes it to the BNS
        pending = {"uid": uid_text(uid), "revoked": True, "bns": "pending"}
        return json_response(pending, status=202)
    return json_response(with_replication(node, uid, record_json(record)))


async def post_credentials_issue(request: web.Request) -> web.Response:
    """POST /credentials/issue {credential, options?} → 201 {verifiableCredential}."""
    node = request.app[SERVICES]
    body = _fields(json_body(request), {"credential"}, {"options"})
    options = body.get("options", {})
    if not isinstance(options, dict):
        raise Problem(400, "options_invalid", "options must be a JSON object")
    result = await vcapi.issue_credential(
        node,
        body["credential"],
        with_status=_status_option(options.get("credentialStatus")),
        cryptosuite=_cryptosuite_option(options.get("cryptosuite", RDFC)),
    )
    return json_response({"verifiableCredential": result.credential}, status=201)


def _status_option(value: object) -> bool:
    """The VC API's credentialStatus option: {"type": "BitstringStatusListEntry"}."""
    if value is None:
        return False
    if not isinstance(value, dict) or value.get("type") != "BitstringStatusListEntry":
        raise Problem(
            400,
            "status_type_unsupported",
            'options.credentialStatus must be {"type": "BitstringStatusListEntry"}',
        )
    if value.get("statusPurpose", "revocation") != "revocation":
        raise Problem(400, "status_type_unsupported", "the node keeps revocation lists only")
    return True


def _cryptosuite_option(value: object) -> str:
    if value not in (RDFC, JCS):
        raise Problem(
            400, "cryptosuite_unsupported", f"options.cryptosuite is {RDFC} (default) or {JCS}"
        )
    return str(value)


ROUTES: Final = (
    Route(
        "POST",
        "/admin/classes",
        post_class,
        "Define a badge class",
        access=Access.ADMIN,
        ok=Answer("ClassRecord", 201),
        body=Body("ClassRequest", max_bytes=MAX_CLASS_BODY_BYTES),
        errors=(422,),
    ),
    Route(
        "GET",
        "/admin/classes",
        get_classes,
        "List this issuer's badge classes",
        access=Access.ADMIN,
        ok=Answer("ClassList"),
    ),
    Route(
        "GET",
        "/classes/{class_id}",
        get_class,
        "A badge class (Achievement) by its id",
        access=Access.PUBLIC,
        ok=Answer("Json"),
        errors=(404,),
    ),
    Route(
        "POST",
        "/admin/issue",
        post_issue,
        "Issue one badge: sign, store, publish, deliver",
        access=Access.ADMIN,
        ok=Answer("Issued", 201),
        body=Body("IssueRequest", max_bytes=MAX_SMALL_BODY_BYTES),
        errors=(404, 422, 503),
    ),
    Route(
        "POST",
        "/admin/batches",
        post_batch,
        "Start issuing a batch (resumable)",
        access=Access.ADMIN,
        ok=Answer("BatchStarted", 202),
        body=Body("BatchRequest", max_bytes=MAX_BATCH_BODY_BYTES, too_large="batch_too_large"),
        errors=(404, 422),
    ),
    Route(
        "GET",
        "/admin/batches/{batch_id}",
        get_batch,
        "A batch's progress (its UIDs unless uids=false)",
        access=Access.ADMIN,
        ok=Answer("Json"),
        query=(("uids", "flag"),),
        errors=(404,),
    ),
    Route(
        "POST",
        "/admin/revoke",
        post_revoke,
        "Revoke a badge: its status list bit and its BNS revocation",
        access=Access.ADMIN,
        ok=Answer("BnsRecord"),
        also=(
            Answer(
                "Json",
                202,
                description="recorded; the DHT did not answer, the node publishes it later",
            ),
        ),
        body=Body("RevokeRequest", max_bytes=MAX_SMALL_BODY_BYTES),
        errors=(404, 422, 503),
    ),
    Route(
        "POST",
        "/credentials/issue",
        post_credentials_issue,
        "W3C VC API: sign a credential with this node's key",
        access=Access.ADMIN,
        tag="vc-api",
        ok=Answer("IssueResult", 201),
        body=Body("VcIssueRequest"),
        errors=(422,),
    ),
)
