"""Builders for Open Badges 3.0 documents: Achievement, OpenBadgeCredential,
EndorsementCredential and the genesis (persona) badge. Unsigned; `proof.sign_credential`
secures them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .errors import BadgeChainError
from .keys import public_key_from_did_key
from .proof import format_created

__all__ = [
    "BNS_URN_PREFIX",
    "CONTEXTS",
    "GENESIS_ACHIEVEMENT_TYPE",
    "build_achievement",
    "build_credential",
    "build_endorsement",
    "build_genesis",
    "email_identity",
    "issuer_id",
    "subject_ref",
]

CONTEXTS = [
    "https://www.w3.org/ns/credentials/v2",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
]
BNS_URN_PREFIX = "urn:bns:"
# OB 3.0 allows extension achievement types with an "ext:" prefix.
GENESIS_ACHIEVEMENT_TYPE = "ext:BadgeChainGenesis"
MAX_TEXT_CHARS = 10_000
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")
_UID = re.compile(r"z[1-9A-HJ-NP-Za-km-z]{80,95}")


def issuer_id(credential: dict[str, Any]) -> str:
    """The issuer's id: `issuer` itself, or its `id` when it is a Profile object; "" when
    the credential names none."""
    issuer = credential.get("issuer")
    found = issuer.get("id") if isinstance(issuer, dict) else issuer
    return found if isinstance(found, str) else ""


class BadgeInputError(BadgeChainError):
    code = "badge_input_invalid"


def subject_ref(subject: str) -> str:
    """Validate a subject id: a did:key, or `urn:bns:<UID>` naming another badge."""
    if subject.startswith(BNS_URN_PREFIX):
        if not _UID.fullmatch(subject[len(BNS_URN_PREFIX) :]):
            raise BadgeInputError(f"{subject!r:.100} does not name a UID", code="subject_invalid")
        return subject
    if subject.startswith("did:key:"):
        public_key_from_did_key(subject)
        return subject
    raise BadgeInputError("the subject must be a did:key or urn:bns:<UID>", code="subject_invalid")


def email_identity(email: str, *, salt: str | None, hashed: bool = True) -> dict[str, Any]:
    """An OB 3.0 IdentityObject for an email; hashed as `sha256$hex(sha256(email + salt))`."""
    address = email.strip()
    if not _EMAIL.fullmatch(address):
        raise BadgeInputError(f"{email!r:.100} is not an email address", code="email_invalid")
    identity: dict[str, Any] = {"type": "IdentityObject", "identityType": "emailAddress"}
    if not hashed:
        return identity | {"hashed": False, "identityHash": address}
    if not salt:
        raise BadgeInputError("a hashed email needs a salt", code="email_invalid")
    digest = hashlib.sha256((address.lower() + salt).encode()).hexdigest()
    return identity | {"hashed": True, "identityHash": f"sha256${digest}", "salt": salt}


def build_achievement(
    issuer_did: str,
    *,
    achievement_id: str,
    name: str,
    description: str,
    criteria: str,
    image: str | None = None,
    tags: Sequence[str] = (),
    achievement_type: str | None = None,
) -> dict[str, Any]:
    """An OB 3.0 Achievement (the badge class); `image` is a URL or data: URI."""
    achievement: dict[str, Any] = {
        "id": achievement_id,
        "type": ["Achievement"],
        "name": _text("name", name),
        "description": _text("description", description),
        "criteria": {"narrative": _text("criteria", criteria)},
        "creator": {"id": issuer_did, "type": ["Profile"]},
    }
    if achievement_type is not None:
        achievement["achievementType"] = achievement_type
    if image is not None:
        achievement["image"] = {"id": image, "type": "Image"}
    if tags:
        achievement["tag"] = [_text("tag", tag) for tag in tags]
    return achievement


def build_credential(
    *,
    issuer_did: str,
    subject_id: str | None,
    achievement: dict[str, Any],
    valid_from: datetime,
    credential_id: str,
    issuer_name: str | None = None,
    identifiers: Sequence[dict[str, Any]] = (),
    valid_until: datetime | None = None,
    evidence: Sequence[str] = (),
    credential_status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An unsigned OpenBadgeCredential; the subject is a key, a badge, and/or an identifier."""
    if subject_id is None and not identifiers:
        raise BadgeInputError("a badge needs a subject id or an identifier", code="subject_invalid")
    if valid_until is not None and valid_until <= valid_from:
        raise BadgeInputError("validUntil must come after validFrom", code="validity_invalid")
    subject: dict[str, Any] = {"type": ["AchievementSubject"]}
    if subject_id is not None:
        subject["id"] = subject_ref(subject_id)
    if identifiers:
        subject["identifier"] = list(identifiers)
    subject["achievement"] = achievement
    issuer: dict[str, Any] = {"id": issuer_did, "type": ["Profile"]}
    if issuer_name:
        issuer["name"] = _text("issuer name", issuer_name)
    credential: dict[str, Any] = {
        "@context": list(CONTEXTS),
        "id": credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": achievement["name"],
        "issuer": issuer,
        "validFrom": format_created(valid_from),
        "credentialSubject": subject,
    }
    if valid_until is not None:
        credential["validUntil"] = format_created(valid_until)
    if evidence:
        credential["evidence"] = [{"id": url, "type": ["Evidence"]} for url in evidence]
    if credential_status is not None:
        credential["credentialStatus"] = credential_status
    return credential


def build_genesis(
    earner_did: str,
    *,
    persona_name: str,
    valid_from: datetime,
    credential_id: str,
    achievement_id: str,
) -> dict[str, Any]:
    """A persona's genesis badge: self-issued by the earner key, about that key."""
    achievement = build_achievement(
        earner_did,
        achievement_id=achievement_id,
        name=persona_name,
        description="Genesis badge of a BadgeChain persona",
        criteria="Held by the key that issued it",
        achievement_type=GENESIS_ACHIEVEMENT_TYPE,
    )
    return build_credential(
        issuer_did=earner_did,
        subject_id=earner_did,
        achievement=achievement,
        valid_from=valid_from,
        credential_id=credential_id,
    )


def build_endorsement(
    *,
    endorser_did: str,
    endorsed_uid: str,
    comment: str,
    valid_from: datetime,
    credential_id: str,
    name: str = "Endorsement",
) -> dict[str, Any]:
    """An OB 3.0 EndorsementCredential whose subject is the endorsed badge."""
    return {
        "@context": list(CONTEXTS),
        "id": credential_id,
        "type": ["VerifiableCredential", "EndorsementCredential"],
        "name": _text("name", name),
        "issuer": {"id": endorser_did, "type": ["Profile"]},
        "validFrom": format_created(valid_from),
        "credentialSubject": {
            "id": subject_ref(BNS_URN_PREFIX + endorsed_uid),
            "type": ["EndorsementSubject"],
            "endorsementComment": _text("comment", comment),
        },
    }


def _text(field: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadgeInputError(f"{field} must be non-empty text", code="badge_input_invalid")
    if len(value) > MAX_TEXT_CHARS:
        raise BadgeInputError(
            f"{field} is longer than {MAX_TEXT_CHARS} characters", code="input_too_large"
        )
    return value
