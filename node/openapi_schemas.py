"""Declared table.

The schemas of the OpenAPI document (node/openapi.py): the values in paths and queries, and
every request and answer body a route declaration (node/routes.py) names.
"""

from __future__ import annotations

from typing import Any, Final

from badgechain.chain.proof import JCS, RDFC
from badgechain.chain.verify import CHECK_NAMES

from .course_schemas import course_schemas
from .page_routes import STATIC_FILES

__all__ = ["DID_KEY", "PATH_SCHEMAS", "QUERY_SCHEMAS", "SCHEMAS", "UID", "UID_OR_URN", "ref"]

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
# Path parameters by name; a route names another entry when its parameter's name says less
# (node/routes.py Route.params).
PATH_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "uid": UID_OR_URN,
    "did": DID_KEY,
    "class_id": {"type": "string", "pattern": f"^{_ID_CHAR}{{1,64}}$"},
    "batch_id": {"type": "string", "pattern": f"^{_ID_CHAR}{{1,64}}$"},
    "list_id": {"type": "string", "pattern": f"^{_ID_CHAR}{{12}}$"},
    "name": {"enum": sorted(STATIC_FILES)},
    # storage/queue.py: `topic:` and the key in hex, or node/queue_routes.py's name (a UID…)
    "item_id": {"type": "string", "pattern": "^[a-z-]{1,32}:.{0,2100}$"},
    "collection_id": {"type": "string", "pattern": f"^{_ID_CHAR}{{22}}$"},
    "did_web_segment": {"type": "string", "pattern": "^[A-Za-z0-9._~%-]{1,100}$"},
}
QUERY_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "page": {"type": "integer", "minimum": 0, "maximum": 999_999_999, "default": 0},
    "flag": {"type": "string", "description": "false leaves them out", "default": "true"},
    "include": {"enum": ["credential"], "description": "credential adds the badge fetched"},
    "check": {"enum": ["bns"], "description": "bns asks the BNS whether each is revoked"},
    "log_after": {"type": "integer", "minimum": 0, "maximum": 2**53 - 1},
    "log_limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


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
SCHEMAS: Final[dict[str, Any]] = {
    "Json": {"description": "A JSON value (see the route's summary)."},
    "BackpackImport": {  # node/backpack_routes.py
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {"type": "string", "description": "the badge's bytes, base64"},
            "origin": {"type": "string", "maxLength": 2048},
        },
    },
    "Backpack": {
        "type": "object",
        "required": ["type", "did", "badges", "imports"],
        "properties": {
            "type": {"const": "BadgeChainBackpack"},
            "did": {"type": "string"},
            "badges": {"type": "array", "maxItems": 10000, "items": {"type": "object"}},
            "imports": {"type": "array", "maxItems": 10000, "items": {"type": "object"}},
        },
    },
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
            "report": ref("Report"),
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
    "PeerList": {
        "type": "object",
        "required": ["peers"],
        "properties": {
            "peers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["did", "url", "seq", "announced", "signed", "signature"],
                    "description": "Ed25519 `signature` over the bytes `signed` (base64url), "
                    "by the key of `did` (bns/peers.py)",
                    "properties": {
                        "did": DID_KEY,
                        "url": _STRING,
                        "seq": {"type": "integer"},
                        "announced": _STRING,
                        "signed": _STRING,
                        "signature": _STRING,
                    },
                },
            }
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "did", "contacts"],
        "properties": {
            "status": _STRING,
            "did": _STRING,
            "name": _STRING,
            "contacts": {"type": "integer"},
        },
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
            "replication": ref("Replication"),  # POST /admin/revoke only
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
            "checks": {"type": "array", "items": ref("Check")},
            "credential": {"type": "object", "description": "the badge, with ?include"},
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
        "required": ["earner", "key", "page", "items", "next"],
        "properties": {
            "earner": _STRING,
            "key": _STRING,  # the did:key whose signed items these are
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
    # Presentations (node/presentation_routes.py, docs/presentations.md).
    "PresentRequest": {
        "type": "object",
        "required": ["uids", "challenge", "domain"],
        "additionalProperties": False,
        "properties": {
            "uids": {"type": "array", "minItems": 1, "maxItems": 8, "items": UID},
            "challenge": {"type": "string", "minLength": 1, "maxLength": 256},
            "domain": {"type": "string", "minLength": 1, "maxLength": 256},
            "staple": {"type": "boolean"},
        },
    },
    "ChallengeRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"domain": {"type": "string", "minLength": 1, "maxLength": 256}},
    },
    "Challenge": {
        "type": "object",
        "required": ["challenge", "domain", "expires"],
        "properties": {"challenge": _STRING, "domain": _STRING, "expires": _STRING},
    },
    "PresentationVerifyRequest": {
        "type": "object",
        "required": ["verifiablePresentation", "options"],
        "properties": {
            "verifiablePresentation": {"type": "object"},
            "options": {
                "type": "object",
                "required": ["challenge"],
                "properties": {
                    "challenge": {"type": "string", "minLength": 1, "maxLength": 256},
                    "domain": {"type": "string", "minLength": 1, "maxLength": 256},
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
            "report": ref("Report"),
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
        "properties": {"classes": {"type": "array", "items": ref("ClassRecord")}},
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
            "rows": {"type": "array", "minItems": 1, "items": ref("Recipient")},
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
    "ClaimRedeem": {  # node/claim_routes.py
        "type": "object",
        "additionalProperties": False,
        "required": ["code", "earner", "created", "proof"],
        "properties": {
            "code": {"type": "string", "minLength": 1, "maxLength": 32},
            "earner": DID_KEY,
            # node/claim_proof.py: the earner key's signature over the claim, made at `created`
            "created": {"type": "integer", "minimum": 0},
            "proof": {"type": "string", "maxLength": 100},
        },
    },
    "ClaimAnswer": {
        "type": "object",
        "required": ["credential"],
        "properties": {"credential": {"type": "object"}},
    },
    "ClaimRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["uid", "code"],
        "properties": {
            "uid": UID_OR_URN,
            "code": {"type": "string", "minLength": 1, "maxLength": 32},
            "issuer": {"type": "string", "pattern": "^https?://", "maxLength": 2048},
        },
    },
    "ClaimResult": {
        "type": "object",
        "required": ["uid", "state"],
        "properties": {"uid": _STRING, "state": _STRING},
    },
    "ResendAsk": {"type": "object", "additionalProperties": False},  # node/mail_routes.py
    "ResendRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["uid"],
        "properties": {
            "uid": UID_OR_URN,
            "issuer": {"type": "string", "pattern": "^https?://", "maxLength": 2048},
        },
    },
    "MailResendRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["uid"],
        "properties": {"uid": UID_OR_URN},
    },
    "ResendAnswer": {
        "type": "object",
        "required": ["uid", "expires"],
        "properties": {"uid": _STRING, "expires": _STRING},
    },
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
        "properties": {
            "uid": _STRING,
            "state": _STRING,
            "record": ref("BnsRecord"),
            "replication": ref("Replication"),
        },
    },
    # node/replication.py: how far this node's last write of a badge's record reached; null
    # when it wrote none. done: false while the node pushes it again in the background.
    "Replication": {
        "type": ["object", "null"],
        "required": ["accepted", "asked", "quorum", "done"],
        "properties": {
            "accepted": {"type": "integer"},
            "asked": {"type": "integer"},
            "quorum": {"type": "integer"},
            "done": {"type": "boolean"},
        },
    },
    "ReplicationAnswer": {
        "type": "object",
        "required": ["uid", "replication"],
        "properties": {"uid": _STRING, "replication": ref("Replication")},
    },
    "IssueResult": {
        "type": "object",
        "required": ["verifiableCredential"],
        "properties": {"verifiableCredential": {"type": "object"}},
    },
}
SCHEMAS.update(course_schemas(DID_KEY, SCHEMAS["ClassRequest"]))  # node/course_routes.py
