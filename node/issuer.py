"""The issuer's workflow: who a badge is for (`Recipient`), and issuing one badge of a
class. Its neighbours: node/classes.py (badge classes), node/batches.py (many badges),
node/vcapi.py (POST /credentials/issue), node/revocation.py (revoking); every one of them
issues through node/pipeline.py, which holds the crash-safety argument.

Status lists (node/status.py): every badge gets a Bitstring Status List entry, taken in
the badge's own atomic write.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from badgechain.bns.errors import NotFound
from badgechain.chain.badge import (
    BNS_URN_PREFIX,
    build_credential,
    email_identity,
    subject_ref,
)
from badgechain.chain.errors import BadgeChainError, DecodeError
from badgechain.chain.keys import PublicKey, public_key_from_did_key
from badgechain.chain.proof import format_created
from badgechain.chain.uid import parse_uid
from badgechain.storage import Kind

from . import claims, mail_claims, pipeline
from .classes import load_achievement
from .didweb import issuer_did
from .errors import IssuerError
from .pipeline import Issuance, IssueResult, Op, Signed
from .services import Services
from .states import BadgeState

__all__ = [
    "IssueResult",
    "IssuerError",
    "Recipient",
    "badge_credential",
    "class_badge",
    "earner_key_for",
    "issue_badge",
    "issued_state",
    "parse_recipient",
    "persona_earner_key",
]

log = logging.getLogger(__name__)

MAX_SUBJECT_CHARS = 200
MAX_EMAIL_CHARS = 320
MAX_EVIDENCE = 8
MAX_URL_CHARS = 2048
_URL = re.compile(r"https?://[^\s]+")


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who one badge is for, checked: a did:key or urn:bns: subject, and/or an email."""

    subject: str | None
    email: str | None
    valid_until: datetime | None
    evidence: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        until = None if self.valid_until is None else format_created(self.valid_until)
        return {
            "to": self.subject,
            "email": self.email,
            "valid_until": until,
            "evidence": list(self.evidence),
        }

    @property
    def earner_key(self) -> PublicKey | None:
        """The key the BNS entry names as earner: none for a badge or an email subject."""
        if self.subject is None or not self.subject.startswith("did:key:"):
            return None
        return public_key_from_did_key(self.subject)


# --- checking input ------------------------------------------------------------------------


def parse_recipient(value: object, *, now: datetime, where: str = "") -> Recipient:
    """A Recipient from JSON {to?, email?, valid_until?, evidence?}; `where` prefixes errors."""
    if not isinstance(value, dict):
        raise IssuerError(f"{where}a recipient is a JSON object", code="recipient_invalid")
    unknown = set(value) - {"to", "email", "valid_until", "evidence"}
    if unknown:
        raise IssuerError(f"{where}unknown field {sorted(unknown)[0]!r:.40}", code="field_unknown")
    subject = _optional_text(value.get("to"), MAX_SUBJECT_CHARS, where, "to", "earner_invalid")
    email = _optional_text(value.get("email"), MAX_EMAIL_CHARS, where, "email", "email_invalid")
    if subject is None and email is None:
        raise IssuerError(
            f"{where}give `to` (a did:key or urn:bns:UID) or an email", code="earner_invalid"
        )
    try:
        if subject is not None:
            subject_ref(subject)
    except BadgeChainError as exc:
        raise IssuerError(f"{where}{exc.message}", code="earner_invalid") from exc
    try:
        if email is not None:
            email_identity(email, salt=None, hashed=False)
    except BadgeChainError as exc:
        raise IssuerError(f"{where}{exc.message}", code="email_invalid") from exc
    return Recipient(
        subject,
        email,
        _parse_valid_until(value.get("valid_until"), now, where),
        _parse_evidence(value.get("evidence"), where),
    )


def _optional_text(value: object, max_chars: int, where: str, name: str, code: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > max_chars:
        raise IssuerError(f"{where}{name} must be text of at most {max_chars} chars", code=code)
    return value.strip() or None


def _parse_valid_until(value: object, now: datetime, where: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, str) or len(value) > 40:
            raise ValueError
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise IssuerError(
            f"{where}valid_until must be an ISO 8601 date-time", code="valid_until_invalid"
        ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    if moment <= now:
        raise IssuerError(f"{where}valid_until is in the past", code="valid_until_invalid")
    return moment


def _parse_evidence(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_EVIDENCE:
        raise IssuerError(
            f"{where}evidence is a list of at most {MAX_EVIDENCE} URLs", code="evidence_invalid"
        )
    for url in value:
        if not isinstance(url, str) or len(url) > MAX_URL_CHARS or not _URL.fullmatch(url):
            raise IssuerError(
                f"{where}evidence {url!r:.80} is not an http(s) URL", code="evidence_invalid"
            )
    return tuple(value)


# --- issuing one badge ---------------------------------------------------------------------


def badge_credential(
    issuer_did: str,
    achievement: dict[str, Any],
    recipient: Recipient,
    now: datetime,
    credential_status: dict[str, Any] | None = None,
    issuer_name: str = "",
) -> dict[str, Any]:
    """The unsigned OpenBadgeCredential of `achievement` for `recipient`, issued `now`; its
    issuer profile carries `issuer_name` (the home's [issuer] name) when there is one."""
    identifiers = []
    if recipient.email is not None:
        identifiers.append(email_identity(recipient.email, salt=secrets.token_hex(8)))
    return build_credential(
        issuer_did=issuer_did,
        subject_id=recipient.subject,
        achievement=achievement,
        valid_from=now,
        credential_id=f"urn:uuid:{uuid.uuid4()}",
        issuer_name=issuer_name or None,
        identifiers=identifiers,
        valid_until=recipient.valid_until,
        evidence=recipient.evidence,
        credential_status=credential_status,
    )


def class_badge(
    node: Services,
    achievement: dict[str, Any],
    recipient: Recipient,
    now: datetime,
    earner_key: PublicKey | None,
    **details: str,
) -> Issuance:
    return Issuance(
        build=lambda entry: badge_credential(
            issuer_did(node), achievement, recipient, now, entry, node.config.issuer_name
        ),
        state=issued_state(now, **details),
        earner_key=earner_key,
        more_writes=_claim_hook(node, achievement, recipient, now, earner_key),
    )


def _claim_hook(
    node: Services,
    achievement: dict[str, Any],
    recipient: Recipient,
    now: datetime,
    earner_key: PublicKey | None,
) -> Callable[[Signed], Iterable[Op]]:
    """An email-only badge, with SMTP set up: its claim and the mail with the code
    (node/claims.py), in the batch that stores it; otherwise nothing more."""
    email = recipient.email
    if email is None or earner_key is not None or not node.config.smtp.host:
        return lambda _: ()
    name = str(achievement.get("name", "a badge"))[:100]
    return lambda signed: [
        *claims.claim_writes(node, signed.uid, email, name, now.timestamp(), claims.new_code()),
        *mail_claims.claim_mail_writes(node, signed.uid, email, name),  # location, resends
    ]


async def issue_badge(node: Services, class_id: str, recipient: Recipient) -> IssueResult:
    """Sign, store and publish one badge of class `class_id`, and hand it to delivery."""
    store = node.store
    achievement = load_achievement(store, class_id)
    earner_key = await earner_key_for(node, recipient)
    now = node.clock()
    issuance = class_badge(node, achievement, recipient, now, earner_key, class_id=class_id)
    result = await pipeline.issue(node, issuance)
    if result.published and node.store.get(Kind.JOURNAL, claims.CLAIM_PREFIX + result.uid):
        await claims.publish_issuer_location(node, result.uid)  # an email badge, till claimed
    return result


async def earner_key_for(node: Services, recipient: Recipient) -> PublicKey | None:
    """The key a badge's BNS entry names as earner: the subject's did:key, or the earner
    behind a persona (`urn:bns:`); None for an email-only subject."""
    if recipient.subject is None:
        return None
    return recipient.earner_key or await persona_earner_key(node, recipient.subject)


async def persona_earner_key(node: Services, subject: str) -> PublicKey | None:
    """The earner key a badge for `subject` should name in its BNS entry, when the subject
    is `urn:bns:<UID>`: the key the linked badge's own entry names as earner (for a genesis
    badge, the key that signed it). None for any other subject.

    Raises IssuerError `subject_unknown` (422) when the BNS holds no such UID, and lets
    `Unreachable` through: an entry is immutable, so never guess its earner key.
    """
    if not subject.startswith(BNS_URN_PREFIX):
        return None
    names = node.names
    try:
        linked = parse_uid(subject)
    except DecodeError as exc:
        raise IssuerError(f"{subject:.100} names no UID", code="subject_invalid") from exc
    try:
        record = await names.resolve(linked)
    except NotFound as exc:
        raise IssuerError(f"the BNS knows no badge {subject:.100}", code="subject_unknown") from exc
    return record.entry.earner_key


def issued_state(now: datetime, **details: str) -> dict[str, Any]:
    return {"role": "issued", "state": BadgeState.ISSUED, "at": format_created(now), **details}


# --- helpers -------------------------------------------------------------------------------


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())
