"""The OpenAPI 3.1 description of the gateway, built from one table of operations.

`OPERATIONS` lists every route a node may serve, public and admin; `build_document(app)`
describes the ones the app has registered, so the served document is never wrong about
what exists. tests/node/test_gateway.py fails when a route is registered without a row here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from badgechain.chain.proof import JCS, RDFC
from badgechain.chain.verify import CHECK_NAMES

from .page_routes import STATIC_FILES

__all__ = ["OPERATIONS", "Operation", "build_document", "registered_routes"]

PROBLEM = "application/problem+json"
JSON = "application/json"
BADGE_INPUTS: Final = (
    "application/json",
    "application/ld+json",
    "application/vc+ld+json",
    "text/plain",
    "application/jwt",
    "application/vc+jwt",
    "image/png",
    "image/svg+xml",
    "multipart/form-data",
)
# What read_json (node/web.py) takes as JSON.
JSON_BODIES: Final = (JSON, "application/ld+json", "text/plain")
_B58: Final = "[1-9A-HJ-NP-Za-km-z]"
# Formats name what a regular expression cannot say; tests/test_fuzz_http.py generates them.
UID: Final = {
    "type": "string",
    "pattern": f"^z{_B58}{{64,88}}$",
    "format": "bns-uid",
    "description": "a badge's UID: its proofValue, 'z' and the base58 of 64 bytes",
}
UID_OR_URN: Final = UID | {"pattern": f"^(urn:bns:)?z{_B58}{{64,88}}$"}
DID_KEY: Final = {
    "type": "string",
    "pattern": f"^did:key:z6Mk[e-km-w]{_B58}{{43}}$",  # 0xed01 + 32 bytes: "z6Mke…" to "z6Mkw…"
    "format": "did-key",
    "description": "an Ed25519 did:key",
}
_ID_CHAR = "[A-Za-z0-9_-]"
_BNS_URL = "^https?://[A-Za-z0-9.\\-:\\[\\]@%_~!$&'()*+,;=]+([/?#][!-~]*)?$"  # bns/record.py
_PATH_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "uid": UID_OR_URN,
    "did": DID_KEY,
    "class_id": {"type": "string", "pattern": f"^{_ID_CHAR}{{1,64}}$"},
    "batch_id": {"type": "string", "pattern": f"^{_ID_CHAR}{{1,64}}$"},
    "list_id": {"type": "string", "pattern": f"^{_ID_CHAR}{{12}}$"},
    "name": {"enum": sorted(STATIC_FILES)},
    "item_id": {"type": "string", "pattern": "^[a-z]{1,32}:[0-9a-f]{0,2048}$"},  # storage/queue.py
}
# A name used by two routes for different things.
_PATH_SCHEMAS_BY_PATH: Final[dict[tuple[str, str], dict[str, Any]]] = {
    ("/earners/{id}/badges", "id"): DID_KEY,
    ("/collections/{id}", "id"): {"type": "string", "pattern": f"^{_ID_CHAR}{{22}}$"},
}
_QUERY_SCHEMAS = {
    "page": {"type": "integer", "minimum": 0, "maximum": 999_999_999, "default": 0},
    "flag": {"type": "string", "description": "false leaves them out", "default": "true"},
    "log_after": {"type": "integer", "minimum": 0, "maximum": 2**53 - 1},
    "log_limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
}
_PATH_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_REASONS = {
    400: "the request is malformed (a bad UID, DID, page or body)",
    401: "the admin bearer token is missing or wrong",
    404: "nothing is known by that name",
    409: "the request conflicts with what the node holds",
    413: "the body is over its size limit",
    415: "the body's media type is not one this route reads",
    422: "the request is well formed but cannot be done",
    502: "a server asked on the way answered wrongly",
    503: "the DHT or a remote server did not answer",
}


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    ok_schema: str  # a name under components.schemas
    ok_status: int = 200
    ok_media: str = JSON
    body_media: tuple[str, ...] = ()
    body_schema: str = "Json"
    body_required: bool = True
    errors: tuple[int, ...] = ()
    query: tuple[tuple[str, str], ...] = ()  # (name, JSON type) of optional query parameters
    also: tuple[tuple[int, str, str], ...] = ()  # (status, description, schema) of other successes

    @property
    def admin(self) -> bool:
        return self.tag == "admin" or self.path == "/credentials/issue"


def _public(method: str, path: str, summary: str, ok: str, **more: Any) -> Operation:
    return Operation(method, path, summary, "public", ok, **more)


def _admin(method: str, path: str, summary: str, ok: str, **more: Any) -> Operation:
    body = {"body_media": JSON_BODIES} if method == "POST" else {}
    return Operation(method, path, summary, "admin", ok, **(body | more))


OPERATIONS: Final = (
    _public("GET", "/health", "Liveness: the node's DID and its DHT contact count", "Health"),
    _public(
        "GET", "/bns/{uid}", "The merged BNS record of a UID", "BnsRecord", errors=(400, 404, 503)
    ),
    _public(
        "GET", "/badges/{uid}", "A badge this node holds, as JSON", "Credential", errors=(400, 404)
    ),
    _public(
        "GET",
        "/badges/{uid}.json",
        "A badge this node holds, as JSON",
        "Credential",
        errors=(400, 404),
    ),
    _public(
        "GET",
        "/badges/{uid}.png",
        "A badge this node holds, baked into a PNG",
        "Binary",
        ok_media="image/png",
        errors=(400, 404, 413),
    ),
    _public(
        "GET",
        "/badges/{uid}.svg",
        "A badge card (name, issuer, earner, a revoked mark) with the credential baked in",
        "Binary",
        ok_media="image/svg+xml",
        errors=(400, 404, 413),
    ),
    _public(
        "GET",
        "/issuers/{did}/badges",
        "A page of an issuer's BNS index (did:key)",
        "IssuerPage",
        query=(("page", "page"),),
        errors=(400, 503),
    ),
    _public(
        "GET",
        "/earners/{id}/badges",
        "A page of an earner's BNS index (did:key)",
        "EarnerPage",
        query=(("page", "page"),),
        errors=(400, 503),
    ),
    _public(
        "GET",
        "/.well-known/did.json",
        "This node's did:web document, for the host name it was reached by",
        "DidDocument",
        errors=(400, 404),
    ),
    _public("GET", "/openapi.json", "This document", "Json"),
    _public(
        "POST",
        "/verify",
        "Verify a badge (JSON, pasted JSON or VC-JWT, baked PNG or SVG, or a form upload); "
        "the verdict is in the report",
        "Report",
        body_media=BADGE_INPUTS,
        body_schema="BadgeUpload",
        errors=(400, 413, 415),
    ),
    _public(
        "GET",
        "/verify/{uid}",
        "Resolve a UID, fetch its badge from its location and verify it",
        "Report",
        errors=(400, 404, 502, 503),
    ),
    Operation(
        "POST",
        "/credentials/verify",
        "W3C VC API: verify a credential (200 only when it verifies)",
        "vc-api",
        "VerificationResult",
        body_media=(JSON, "application/ld+json"),
        body_schema="VerifyRequest",
        errors=(400, 413, 415, 422),
    ),
    Operation(
        "POST",
        "/credentials/issue",
        "W3C VC API: sign a credential with this node's key",
        "vc-api",
        "IssueResult",
        ok_status=201,
        body_media=JSON_BODIES,
        body_schema="VcIssueRequest",
        errors=(400, 401, 413, 415, 422),
    ),
    _public(
        "POST",
        "/inbox",
        "Deliver a badge to this node's earner inbox",
        "Delivered",
        ok_status=202,
        body_media=JSON_BODIES,
        body_schema="Credential",
        errors=(400, 409, 413, 415, 422),
    ),
    _public(
        "GET", "/classes/{class_id}", "A badge class (Achievement) by its id", "Json", errors=(404,)
    ),
    _admin("GET", "/admin/classes", "List this issuer's badge classes", "ClassList"),
    _admin(
        "POST",
        "/admin/classes",
        "Define a badge class",
        "ClassRecord",
        ok_status=201,
        body_schema="ClassRequest",
        errors=(400, 413, 415, 422),
    ),
    _admin(
        "POST",
        "/admin/issue",
        "Issue one badge: sign, store, publish, deliver",
        "Issued",
        ok_status=201,
        body_schema="IssueRequest",
        errors=(400, 404, 413, 415, 422, 503),
    ),
    _admin(
        "POST",
        "/admin/batches",
        "Start issuing a batch (resumable)",
        "BatchStarted",
        ok_status=202,
        body_schema="BatchRequest",
        errors=(400, 404, 413, 415, 422),
    ),
    _admin("GET", "/admin/queue", "The work queue: items, due times, attempts, errors", "Json"),
    _admin(
        "POST",
        "/admin/queue/{item_id}/retry",
        "Make a queue item (a dead one too) due now",
        "Json",
        body_media=(),
        errors=(404,),
    ),
    _admin("DELETE", "/admin/queue/{item_id}", "Drop a queue item", "Json", errors=(404,)),
    _admin(
        "GET",
        "/admin/batches/{batch_id}",
        "A batch's progress (its UIDs unless uids=false)",
        "Json",
        query=(("uids", "flag"),),
        errors=(404,),
    ),
    _admin(
        "POST",
        "/admin/revoke",
        "Revoke a badge: its status list bit and its BNS revocation",
        "BnsRecord",
        body_schema="RevokeRequest",
        also=((202, "recorded; the DHT did not answer, the node publishes it later", "Json"),),
        errors=(400, 404, 413, 415, 422, 503),
    ),
    _admin("GET", "/admin/inbox", "Badges delivered here, waiting for a decision", "Inbox"),
    _admin(
        "POST",
        "/admin/accept",
        "Accept a delivered badge: publish this node as its location",
        "EarnerAnswer",
        body_schema="UidRequest",
        errors=(400, 404, 409, 413, 415, 422, 503),
    ),
    _admin(
        "POST",
        "/admin/reject",
        "Refuse a delivered badge",
        "EarnerAnswer",
        body_schema="UidRequest",
        errors=(400, 404, 409, 413, 415),
    ),
    _admin(
        "POST",
        "/admin/move",
        "Publish other locations for a badge",
        "EarnerAnswer",
        body_schema="MoveRequest",
        errors=(400, 404, 409, 413, 415, 422, 503),
    ),
    _admin(
        "POST",
        "/admin/hide",
        "Hide a badge: publish an empty location",
        "EarnerAnswer",
        body_schema="UidRequest",
        errors=(400, 404, 409, 413, 415, 422, 503),
    ),
    # -- status lists (node/status_routes.py) --
    _public(
        "GET",
        "/status/{list_id}",
        "The issuer's signed Bitstring Status List credential (revocation), re-signed hourly",
        "Credential",
        ok_media="application/vc+ld+json",
        errors=(400, 404),
    ),
    # -- node log (node/log_routes.py) --
    _public(
        "GET",
        "/log",
        "A page of this node's signed, hash-linked log, with its signed head",
        "LogPage",
        query=(("after", "log_after"), ("limit", "log_limit")),
        errors=(400,),
    ),
    _public(
        "GET",
        "/feed.atom",
        "The latest log entries as an Atom 1.0 feed",
        "Binary",
        ok_media="application/atom+xml",
    ),
    # -- personas, endorsements, collections (node/persona_routes.py) --
    _admin(
        "POST",
        "/admin/personas",
        "Create a persona: a genesis badge; badges to urn:bns:<its UID> reach this node",
        "Json",
        ok_status=201,
        body_schema="PersonaRequest",
        body_required=False,  # no body: a persona of the default name
        errors=(400, 413, 415, 503),
    ),
    _admin("GET", "/admin/personas", "This node's personas", "Json"),
    _admin(
        "POST",
        "/admin/endorse",
        "Endorse a badge: sign, publish and deliver an EndorsementCredential about it",
        "Json",
        ok_status=201,
        body_schema="EndorseRequest",
        errors=(400, 404, 413, 415, 422, 502, 503),
    ),
    _public(
        "GET",
        "/badges/{uid}/endorsements",
        "The endorsements of a badge that this node holds",
        "Json",
        errors=(400,),
    ),
    _admin(
        "POST",
        "/admin/collections",
        "Create a public collection of badges this node holds",
        "Json",
        ok_status=201,
        body_schema="CollectionRequest",
        errors=(400, 413, 415, 422),
    ),
    _admin("GET", "/admin/collections", "This node's collections", "Json"),
    _public(
        "GET",
        "/collections/{id}",
        "A collection: its name and the badges in it, with links",
        "Json",
        errors=(400, 404),
    ),
    # -- web page (node/page_routes.py) --
    _public(
        "GET",
        "/",
        "The web page: verify a badge, see a badge or an issuer's badges",
        "Text",
        ok_media="text/html",
    ),
    _public(
        "GET",
        "/static/{name}",
        "A file of the web page (its script or its style sheet), from a fixed list",
        "Text",
        ok_media="text/*",
        errors=(404,),
    ),
)


def registered_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path template) of every route of `app`; HEAD rides along with each GET."""
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method not in ("HEAD", "*")
    }


def build_document(app: web.Application | None = None) -> dict[str, Any]:
    """The OpenAPI document: every operation in the table, or only those `app` serves."""
    served = registered_routes(app) if app is not None else None
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        if served is None or (op.method, op.path) in served:
            paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "BadgeChain node",
            "version": "0.1.0",
            "description": "Gateway and admin API of a BadgeChain node. Every error is an "
            "RFC 9457 problem report with a stable `code`.",
        },
        "tags": [
            {"name": "public", "description": "Anyone may call these."},
            {"name": "vc-api", "description": "W3C VC API."},
            {"name": "admin", "description": "Need the node's admin bearer token."},
        ],
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
        },
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _operation(op: Operation) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": _operation_id(op),
        "summary": op.summary,
        "tags": [op.tag],
        "responses": _responses(op),
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(op.path, name)}
        for name in _PATH_PARAMETER.findall(op.path)
    ]
    parameters += [
        {"name": name, "in": "query", "schema": _QUERY_SCHEMAS[kind]} for name, kind in op.query
    ]
    if parameters:
        operation["parameters"] = parameters
    if op.body_media:
        operation["requestBody"] = {
            "required": op.body_required,
            "content": {media: {"schema": _body_schema(op, media)} for media in op.body_media},
        }
    if op.admin:
        operation["security"] = [{"adminToken": []}]
    return operation


def _body_schema(op: Operation, media: str) -> dict[str, str]:
    return _ref("BadgeForm" if media == "multipart/form-data" else op.body_schema)


def _path_schema(path: str, name: str) -> dict[str, Any]:
    return _PATH_SCHEMAS_BY_PATH.get((path, name)) or _PATH_SCHEMAS[name]


def _responses(op: Operation) -> dict[str, Any]:
    problem = {PROBLEM: {"schema": _ref("Problem")}}
    responses: dict[str, Any] = {
        str(op.ok_status): {
            "description": "success",
            "content": {op.ok_media: {"schema": _ref(op.ok_schema)}},
        }
    }
    for status, description, schema in op.also:
        responses[str(status)] = {
            "description": description,
            "content": {JSON: {"schema": _ref(schema)}},
        }
    statuses = set(op.errors) | ({401} if op.admin else set())
    for status in sorted(statuses):
        responses[str(status)] = {"description": _REASONS[status], "content": problem}
    responses["default"] = {"description": "any other failure (timeouts, bugs)", "content": problem}
    return responses


def _operation_id(op: Operation) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", op.path).strip("_")
    return f"{op.method.lower()}_{words}"


_STRING = {"type": "string"}
_ENVELOPED = {"const": "EnvelopedVerifiableCredential"}
_HAS_ENVELOPED = {"anyOf": [_ENVELOPED, {"type": "array", "contains": _ENVELOPED}]}


def _text(max_chars: int) -> dict[str, Any]:
    """Text the node refuses when blank."""
    return {"type": "string", "minLength": 1, "maxLength": max_chars, "pattern": "\\S"}


def _optional(schema: dict[str, Any]) -> dict[str, Any]:
    """A field the node takes as absent when null or ""."""
    return {"anyOf": [{"type": "null"}, {"const": ""}, schema]}


_RECIPIENT_FIELDS: Final = {
    "to": _optional(
        {
            "type": "string",
            "pattern": f"^({DID_KEY['pattern'][1:-1]}|urn:bns:z{_B58}{{80,95}})$",
            "format": "bns-subject",
            "description": "a did:key, or urn:bns:<UID> of a persona",
        }
    ),
    "email": _optional(
        {"type": "string", "maxLength": 320, "pattern": "^[^@\\s]{1,64}@[^@\\s]{1,255}$"}
    ),
    "valid_until": _optional({"type": "string", "maxLength": 40, "format": "future-date-time"}),
    "evidence": {
        "anyOf": [
            {"type": "null"},
            {
                "type": "array",
                "maxItems": 8,
                "items": {"type": "string", "maxLength": 2048, "pattern": "^https?://[^\\s]+$"},
            },
        ]
    },
}


def _recipient(more: dict[str, Any]) -> dict[str, Any]:
    """A recipient (node/issuer.py parse_recipient), with `more` required fields."""
    return {
        "type": "object",
        "required": sorted(more),
        "additionalProperties": False,
        "properties": _RECIPIENT_FIELDS | more,
        "anyOf": [  # an earner: `to`, or an email
            {"required": ["to"], "properties": {"to": {"type": "string", "minLength": 1}}},
            {"required": ["email"], "properties": {"email": {"type": "string", "minLength": 1}}},
        ],
    }


_NULLABLE_STRING = {"type": ["string", "null"]}
_SCHEMAS: Final[dict[str, Any]] = {
    "Json": {"description": "A JSON value (see the route's summary)."},
    "Binary": {"type": "string", "contentMediaType": "application/octet-stream"},
    "Text": {"type": "string"},
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "code", "detail"],
        "properties": {
            "type": _STRING,
            "title": _STRING,
            "status": {"type": "integer"},
            "code": {"type": "string", "description": "stable, for programs"},
            "detail": _STRING,
            "report": _ref("Report"),
        },
    },
    "LogPage": {
        "type": "object",
        "required": ["entries", "head", "next"],
        "properties": {
            "entries": {"type": "array", "items": {"type": "object"}},
            "head": {"type": ["object", "null"], "description": "{seq, hash, signer, signature}"},
            "next": {"type": ["integer", "null"], "description": "the `after` of the next page"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "did", "contacts"],
        "properties": {"status": _STRING, "did": _STRING, "contacts": {"type": "integer"}},
    },
    "BnsRecord": {
        "type": "object",
        "required": ["uid", "issuer", "earner", "created", "location", "revoked", "revocation"],
        "properties": {
            "uid": _STRING,
            "issuer": _STRING,
            "earner": _NULLABLE_STRING,
            "created": {"type": "integer"},
            "location": {
                "type": ["object", "null"],
                "properties": {
                    "urls": {"type": "array", "items": _STRING},
                    "seq": {"type": "integer"},
                    "hidden": {"type": "boolean"},
                },
            },
            "revoked": {"type": "boolean"},
            "revocation": {
                "type": ["object", "null"],
                "properties": {"reason": _STRING, "revokedAt": {"type": "integer"}},
            },
        },
    },
    "Credential": {"type": "object", "description": "A Verifiable Credential (Open Badge)."},
    "BadgeUpload": {
        "description": "The badge bytes: JSON, a VC-JWT, a baked PNG or SVG; a form upload "
        "carries them in its first file field.",
    },
    "BadgeForm": {
        "type": "object",
        "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}},
        "description": "The badge in the `file` (or `badge`) field, or in any part with a "
        "filename, among the form's first 8 parts.",
    },
    "Check": {
        "type": "object",
        "required": ["name", "status", "code", "message"],
        "properties": {
            "name": _STRING,
            "status": {"enum": ["passed", "failed", "skipped"]},
            "code": _STRING,
            "message": _STRING,
        },
    },
    "Report": {
        "type": "object",
        "required": ["verdict", "uid", "format", "checks"],
        "properties": {
            "verdict": {"enum": ["valid", "invalid", "indeterminate"]},
            "uid": _NULLABLE_STRING,
            "format": _STRING,
            "checks": {"type": "array", "items": _ref("Check")},
        },
    },
    "IssuerPage": {
        "type": "object",
        "required": ["issuer", "page", "items", "next"],
        "properties": {
            "issuer": _STRING,
            "page": {"type": "integer"},
            "items": {
                "type": "array",
                "items": {"type": "object", "properties": {"uid": _STRING}},
            },
            "next": _NULLABLE_STRING,
        },
    },
    "EarnerPage": {
        "type": "object",
        "required": ["earner", "page", "items", "next"],
        "properties": {
            "earner": _STRING,
            "page": {"type": "integer"},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "uid": _STRING,
                        "issuer": _STRING,
                        "created": {"type": "integer"},
                    },
                },
            },
            "next": _NULLABLE_STRING,
        },
    },
    "DidDocument": {"type": "object", "required": ["id"], "properties": {"id": _STRING}},
    "VerifyRequest": {
        "type": "object",
        "required": ["verifiableCredential"],
        "properties": {
            "verifiableCredential": {
                "type": "object",
                "description": "a credential, or a VC-JWT in an EnvelopedVerifiableCredential",
                "if": {"required": ["type"], "properties": {"type": _HAS_ENVELOPED}},
                "then": {
                    "required": ["id"],
                    "properties": {
                        "id": {"type": "string", "pattern": "^data:application/(vc\\+)?jwt,"}
                    },
                },
            },
            "options": {
                "type": "object",
                "properties": {
                    "checks": {
                        "anyOf": [
                            {"type": "null"},
                            {
                                "type": "array",
                                "maxItems": 32,
                                "items": {"enum": [*CHECK_NAMES, "credentialStatus", "expiration"]},
                            },
                        ]
                    }
                },
            },
        },
    },
    "VerificationResult": {
        "type": "object",
        "required": ["verified", "checks", "warnings", "errors", "report"],
        "properties": {
            "verified": {"type": "boolean"},
            "checks": {"type": "array", "items": _STRING},
            "warnings": {"type": "array", "items": {"type": "object"}},
            "errors": {"type": "array", "items": {"type": "object"}},
            "report": _ref("Report"),
        },
    },
    "VcIssueRequest": {
        "type": "object",
        "required": ["credential"],
        "additionalProperties": False,
        "properties": {
            "credential": {"type": "object"},
            "options": {
                "type": "object",
                "description": "eddsa-rdfc-2022 unless cryptosuite asks for eddsa-jcs-2022; "
                "a Bitstring status entry only when credentialStatus asks for one",
                "properties": {
                    "credentialStatus": {
                        "anyOf": [
                            {"type": "null"},
                            {
                                "type": "object",
                                "required": ["type"],
                                "properties": {
                                    "type": {"const": "BitstringStatusListEntry"},
                                    "statusPurpose": {"const": "revocation"},
                                },
                            },
                        ]
                    },
                    "cryptosuite": {"enum": [RDFC, JCS]},
                },
            },
        },
    },
    "Delivered": {
        "type": "object",
        "required": ["uid", "state"],
        "properties": {"uid": _STRING, "state": _STRING},
    },
    "ClassRequest": {
        "type": "object",
        "required": ["name", "description", "criteria"],
        "additionalProperties": False,
        "properties": {
            "name": _text(200),
            "description": _text(10_000),
            "criteria": _text(10_000),
            "image": {
                "anyOf": [
                    {"type": "null"},
                    {
                        "type": "string",
                        "maxLength": 349_528,  # 256 KiB in base64
                        "format": "badge-image",
                        "contentEncoding": "base64",
                        "description": "a PNG or SVG of at most 256 KiB",
                    },
                ]
            },
        },
    },
    "ClassRecord": {
        "type": "object",
        "required": ["id", "achievement", "created"],
        "properties": {"id": _STRING, "achievement": {"type": "object"}, "created": _STRING},
    },
    "ClassList": {
        "type": "object",
        "required": ["classes"],
        "properties": {"classes": {"type": "array", "items": _ref("ClassRecord")}},
    },
    "Recipient": _recipient({}),
    "IssueRequest": _recipient({"class_id": _STRING}),
    "Issued": {
        "type": "object",
        "required": ["uid", "credential", "published"],
        "properties": {
            "uid": _STRING,
            "credential": {"type": "object"},
            "published": {"type": "boolean"},
        },
    },
    "BatchRequest": {
        "type": "object",
        "required": ["class_id", "rows"],
        "additionalProperties": False,
        "properties": {
            "class_id": _STRING,
            "rows": {"type": "array", "minItems": 1, "items": _ref("Recipient")},
        },
    },
    "BatchStarted": {
        "type": "object",
        "required": ["batch_id", "total"],
        "properties": {"batch_id": _STRING, "total": {"type": "integer"}},
    },
    "RevokeRequest": {
        "type": "object",
        "required": ["uid", "reason"],
        "additionalProperties": False,
        "properties": {
            "uid": UID_OR_URN,
            "reason": _text(256) | {"format": "utf8-256", "description": "at most 256 UTF-8 bytes"},
        },
    },
    "Inbox": {
        "type": "object",
        "required": ["badges"],
        "properties": {
            "badges": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "uid": _STRING,
                        "issuer": _STRING,
                        "name": _STRING,
                        "receivedAt": _STRING,
                    },
                },
            }
        },
    },
    "UidRequest": {"type": "object", "required": ["uid"], "properties": {"uid": UID_OR_URN}},
    "MoveRequest": {
        "type": "object",
        "required": ["uid", "urls"],
        "properties": {
            "uid": UID_OR_URN,
            "urls": {
                "type": "array",
                "minItems": 1,
                "maxItems": 4,
                "items": {"type": "string", "maxLength": 256, "pattern": _BNS_URL},
                "description": "at most 448 characters together (a BNS location's budget)",
            },
        },
    },
    "PersonaRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"name": _optional(_text(2000)), "description": _optional(_text(2000))},
    },
    "EndorseRequest": {
        "type": "object",
        "required": ["uid"],
        "additionalProperties": False,
        "properties": {"uid": UID_OR_URN, "comment": _optional(_text(2000))},
    },
    "CollectionRequest": {
        "type": "object",
        "required": ["name", "uids"],
        "additionalProperties": False,
        "properties": {
            "name": _text(200),
            "uids": {"type": "array", "minItems": 1, "maxItems": 200, "items": UID_OR_URN},
            "description": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 2000}]},
        },
    },
    "EarnerAnswer": {
        "type": "object",
        "required": ["uid", "state"],
        "properties": {"uid": _STRING, "state": _STRING, "record": _ref("BnsRecord")},
    },
    "IssueResult": {
        "type": "object",
        "required": ["verifiableCredential"],
        "properties": {"verifiableCredential": {"type": "object"}},
    },
}
