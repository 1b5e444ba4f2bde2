"""The issuer's workflow (issue 4, item 3): badge classes, issuing one badge or a batch,
publishing each badge's BNS entry, handing it to delivery, and revoking.

Crash safety: a badge, its state, a "not yet published" mark and (in a batch) its row's
UID go to LevelDB in one atomic write. Publishing and delivery come after, may repeat
harmlessly, and clear the mark. So a crash at any moment issues no row twice and loses
none: a row without a UID was never issued; a mark left behind is published on restart.

Journal keys (Kind.JOURNAL), all JSON values:
  issuer/class/<class id>                 {"id", "achievement", "created"}
  issuer/batch/<batch id>                 {"id", "class_id", "total", "created", "state"}
  issuer/batch-row/<batch id>/<u32 index> {"to", "email", "valid_until", "evidence",
                                           "uid"?, "error"?}
  issuer/unpublished/<64-byte UID>        {"created", "earner"}: the BNS entry to publish
  issuer/revoking/<64-byte UID>           {"reason", "at"}: a revocation to publish

Status lists (node/status.py): every badge gets a Bitstring Status List entry, taken in
the badge's own atomic write. A revocation sets the list bit, stores the re-signed list,
the badge's "revoked" state and a "revoking" mark in one atomic write, then publishes the
BNS revocation and clears the mark; a mark left by a crash is published on the next start
(`resume_batches`). So the list and the BNS end up saying the same thing.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import re
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from badgechain.bns.errors import NotFound
from badgechain.bns.record import MAX_REASON_BYTES, Record
from badgechain.chain.badge import (
    BNS_URN_PREFIX,
    build_achievement,
    build_credential,
    email_identity,
    issuer_id,
    subject_ref,
)
from badgechain.chain.credential import CredentialView
from badgechain.chain.errors import BadgeChainError, DecodeError
from badgechain.chain.keys import PublicKey, public_key_from_did_key
from badgechain.chain.multibase import multibase_decode
from badgechain.chain.proof import JCS, RDFC, format_created
from badgechain.chain.resolve import Unreachable
from badgechain.chain.structure import is_open_badge
from badgechain.chain.uid import Uid, uid_text
from badgechain.storage import Kind, Store

from . import pipeline, status
from .badgestore import STATE_PREFIX, load_badge, load_state
from .errors import NodeError
from .pipeline import UNPUBLISHED_PREFIX, Issuance, IssueResult
from .services import Services
from .states import BadgeState, advance

__all__ = [
    "DATA_INTEGRITY_CONTEXT",
    "MAX_BATCH_ROWS",
    "MAX_IMAGE_BYTES",
    "REVOKING_PREFIX",
    "UNPUBLISHED_PREFIX",
    "IssueResult",
    "IssuerError",
    "Recipient",
    "badge_credential",
    "batch_progress",
    "create_batch",
    "create_class",
    "earner_key_for",
    "image_data_uri",
    "issue_badge",
    "issue_credential",
    "list_classes",
    "load_class",
    "parse_recipient",
    "persona_earner_key",
    "prepare_credential",
    "publish_pending_revocations",
    "publish_revocation",
    "record_revocation",
    "resume_batches",
    "revoke_badge",
    "run_batch",
]

log = logging.getLogger(__name__)

CLASS_PREFIX: Final = b"issuer/class/"
BATCH_PREFIX: Final = b"issuer/batch/"
ROW_PREFIX: Final = b"issuer/batch-row/"
REVOKING_PREFIX: Final = b"issuer/revoking/"
STATUS_CONTEXT = "https://www.w3.org/ns/credentials/status/v1"

MAX_BATCH_ROWS = 10_000
MAX_IMAGE_BYTES = 256 * 1024
MAX_CLASS_NAME_CHARS = 200
MAX_SUBJECT_CHARS = 200
MAX_EMAIL_CHARS = 320
MAX_EVIDENCE = 8
MAX_URL_CHARS = 2048
MAX_LISTED_ERRORS = 100
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_URL = re.compile(r"https?://[^\s]+")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
VC1_CONTEXT = "https://www.w3.org/2018/credentials/v1"
# VC 1.1 does not define the Data Integrity proof terms: without this context, safe mode
# refuses to sign (vc-data-integrity, "Add Proof", asks for the context too).
DATA_INTEGRITY_CONTEXT = "https://w3id.org/security/data-integrity/v2"


class IssuerError(NodeError):
    """An issuer request the node refuses; `code` says why."""

    code = "issue_invalid"


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


def image_data_uri(image: bytes) -> str:
    """The class image as a data: URI (it travels inside every badge): PNG or SVG only."""
    if len(image) > MAX_IMAGE_BYTES:
        raise IssuerError(
            f"the image is over {MAX_IMAGE_BYTES // 1024} KiB", code="image_too_large"
        )
    if image.startswith(_PNG_MAGIC):
        mime = "image/png"
    elif b"<svg" in image[:4096] and image.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        mime = "image/svg+xml"
    else:
        raise IssuerError("the image must be a PNG or an SVG", code="image_invalid")
    return f"data:{mime};base64,{base64.b64encode(image).decode()}"


# --- badge classes -------------------------------------------------------------------------


def create_class(
    node: Services, *, name: str, description: str, criteria: str, image: bytes | None = None
) -> dict[str, Any]:
    """Define and store a badge class (an OB 3.0 Achievement); returns its stored record."""
    if len(name) > MAX_CLASS_NAME_CHARS:
        raise IssuerError(f"name is over {MAX_CLASS_NAME_CHARS} chars", code="class_invalid")
    class_id = secrets.token_urlsafe(8)
    achievement = build_achievement(
        node.did,
        achievement_id=_achievement_id(node, class_id),
        name=name,
        description=description,
        criteria=criteria,
        image=None if image is None else image_data_uri(image),
    )
    record = {"id": class_id, "achievement": achievement, "created": format_created(node.clock())}
    node.store.put(Kind.JOURNAL, CLASS_PREFIX + class_id.encode(), _dump(record))
    return record


def _achievement_id(node: Services, class_id: str) -> str:
    # An Achievement's id should stay true for as long as its badges live. A configured
    # public URL does (this node serves GET /classes/{id}); a loopback URL with a port that
    # changes on restart would not, so without one the id is a URN.
    if node.config.public_url:
        return f"{node.config.public_url.rstrip('/')}/classes/{class_id}"
    return f"urn:uuid:{uuid.uuid4()}"


def load_class(store: Store, class_id: str) -> dict[str, Any]:
    raw = (
        store.get(Kind.JOURNAL, CLASS_PREFIX + class_id.encode())
        if _ID.fullmatch(class_id)
        else None
    )
    if raw is None:
        raise IssuerError(f"no badge class {class_id!r:.80}", code="class_not_found")
    return dict(json.loads(raw))


def list_classes(store: Store, limit: int = 10_000) -> list[dict[str, Any]]:
    return [
        dict(json.loads(value)) for _, value in store.scan(Kind.JOURNAL, CLASS_PREFIX, limit=limit)
    ]


# --- issuing one badge ---------------------------------------------------------------------


def badge_credential(
    issuer_did: str,
    achievement: dict[str, Any],
    recipient: Recipient,
    now: datetime,
    credential_status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The unsigned OpenBadgeCredential of `achievement` for `recipient`, issued `now`."""
    identifiers = []
    if recipient.email is not None:
        identifiers.append(email_identity(recipient.email, salt=secrets.token_hex(8)))
    return build_credential(
        issuer_did=issuer_did,
        subject_id=recipient.subject,
        achievement=achievement,
        valid_from=now,
        credential_id=f"urn:uuid:{uuid.uuid4()}",
        identifiers=identifiers,
        valid_until=recipient.valid_until,
        evidence=recipient.evidence,
        credential_status=credential_status,
    )


def _class_badge(
    node: Services,
    achievement: dict[str, Any],
    recipient: Recipient,
    now: datetime,
    earner_key: PublicKey | None,
    **details: str,
) -> Issuance:
    return Issuance(
        build=lambda entry: badge_credential(node.did, achievement, recipient, now, entry),
        state=_issued_state(now, **details),
        earner_key=earner_key,
    )


async def issue_badge(node: Services, class_id: str, recipient: Recipient) -> IssueResult:
    """Sign, store and publish one badge of class `class_id`, and hand it to delivery."""
    store = node.store
    badge_class = load_class(store, class_id)
    earner_key = await earner_key_for(node, recipient)
    now = node.clock()
    achievement = badge_class["achievement"]
    issuance = _class_badge(node, achievement, recipient, now, earner_key, class_id=class_id)
    return await pipeline.issue(node, issuance)


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
        linked = Uid(multibase_decode(subject[len(BNS_URN_PREFIX) :]))
    except DecodeError as exc:
        raise IssuerError(f"{subject:.100} names no UID", code="subject_invalid") from exc
    if len(linked) != 64:
        raise IssuerError(f"{subject:.100} names no UID", code="subject_invalid")
    try:
        record = await names.resolve(linked)
    except NotFound as exc:
        raise IssuerError(f"the BNS knows no badge {subject:.100}", code="subject_unknown") from exc
    return record.entry.earner_key


def _issued_state(now: datetime, **details: str) -> dict[str, Any]:
    return {"role": "issued", "state": BadgeState.ISSUED, "at": format_created(now), **details}


# --- batches -------------------------------------------------------------------------------


def create_batch(node: Services, class_id: str, recipients: list[Recipient]) -> dict[str, Any]:
    """Store a batch and its rows durably, then issue them in the background."""
    store = node.store
    load_class(store, class_id)
    if not recipients:
        raise IssuerError("a batch needs at least one row", code="batch_invalid")
    if len(recipients) > MAX_BATCH_ROWS:
        raise IssuerError(f"a batch has at most {MAX_BATCH_ROWS} rows", code="batch_too_large")
    batch_id = secrets.token_urlsafe(9)
    header = {
        "id": batch_id,
        "class_id": class_id,
        "total": len(recipients),
        "created": format_created(node.clock()),
        "state": "running",
    }
    with store.batch() as batch:
        batch.put(Kind.JOURNAL, BATCH_PREFIX + batch_id.encode(), _dump(header))
        for index, recipient in enumerate(recipients):
            batch.put(Kind.JOURNAL, _row_key(batch_id, index), _dump(recipient.to_json()))
    node.spawn(_work_through(node, [batch_id], pending_first=False))
    return header


def _row_key(batch_id: str, index: int) -> bytes:
    return ROW_PREFIX + batch_id.encode() + b"/" + index.to_bytes(4, "big")


def _rows(store: Store, batch_id: str) -> list[tuple[bytes, dict[str, Any]]]:
    prefix = ROW_PREFIX + batch_id.encode() + b"/"
    return [(key, dict(json.loads(value))) for key, value in store.scan(Kind.JOURNAL, prefix)]


def _load_batch(store: Store, batch_id: str) -> dict[str, Any]:
    raw = (
        store.get(Kind.JOURNAL, BATCH_PREFIX + batch_id.encode())
        if _ID.fullmatch(batch_id)
        else None
    )
    if raw is None:
        raise IssuerError(f"no batch {batch_id!r:.80}", code="batch_not_found")
    return dict(json.loads(raw))


async def run_batch(node: Services, batch_id: str) -> None:
    """Issue every row of the batch that has neither a UID nor an error yet, in order."""
    store = node.store
    header = _load_batch(store, batch_id)
    achievement = load_class(store, header["class_id"])["achievement"]
    for key, _ in _rows(store, batch_id):
        await _issue_row(node, header, achievement, key)
        await asyncio.sleep(0)  # signing is synchronous: let the gateway answer between rows
    store.put(Kind.JOURNAL, BATCH_PREFIX + batch_id.encode(), _dump(header | {"state": "done"}))
    await pipeline.publish_pending(node)


async def _issue_row(
    node: Services, header: dict[str, Any], achievement: dict[str, Any], key: bytes
) -> None:
    """Issue one row unless it is done. From reading the row to the atomic write nothing
    awaits, so two runners of one batch (a double resume) cannot both issue it."""
    store = node.store
    row = json.loads(store.get(Kind.JOURNAL, key) or b"{}")
    if "uid" in row or "error" in row:
        return
    try:
        earner_key = await earner_key_for(node, parse_recipient(row, now=node.clock()))
    except IssuerError as exc:  # a bad row or an unknown persona; Unreachable ends the run,
        # and the batch, still running, resumes on the next start
        store.put(Kind.JOURNAL, key, _dump(row | {"error": f"{exc.code}: {exc.message}"}))
        return
    row = json.loads(store.get(Kind.JOURNAL, key) or b"{}")  # again: the lookup awaited
    if "uid" in row or "error" in row:
        return
    now = node.clock()
    try:
        recipient = parse_recipient(row, now=now)
        details = {"class_id": header["class_id"], "batch_id": header["id"]}
        issuance = replace(
            _class_badge(node, achievement, recipient, now, earner_key, **details),
            more_writes=lambda signed: [(Kind.JOURNAL, key, _done(row, signed.uid))],
        )
        signed = pipeline.sign_and_store(node, issuance, now)
    except BadgeChainError as exc:  # e.g. valid_until passed while the batch waited
        store.put(Kind.JOURNAL, key, _dump(row | {"error": f"{exc.code}: {exc.message}"}))
        return
    await pipeline.publish(node, signed.uid, deliver_now=False)  # the outbox loop delivers


def batch_progress(store: Store, batch_id: str, *, with_uids: bool = True) -> dict[str, Any]:
    """How far a batch is: counts, its UIDs in row order, and the first row errors."""
    header = _load_batch(store, batch_id)
    rows = _rows(store, batch_id)
    uids = [row["uid"] for _, row in rows if "uid" in row]
    errors = [
        {"row": int.from_bytes(key[-4:], "big") + 1, "error": row["error"]}
        for key, row in rows
        if "error" in row
    ]
    unpublished = sum(
        store.get(Kind.JOURNAL, UNPUBLISHED_PREFIX + multibase_decode(uid)) is not None
        for uid in uids
    )
    progress = header | {
        "done": len(uids),
        "failed": len(errors),
        "unpublished": unpublished,
        "errors": errors[:MAX_LISTED_ERRORS],
    }
    return (progress | {"uids": uids}) if with_uids else progress


async def resume_batches(node: Services) -> int:
    """Call once the node has started: in the background, publish what a crash left
    unpublished, then finish every unfinished batch. Returns the number of batches resumed."""
    headers = [json.loads(value) for _, value in node.store.scan(Kind.JOURNAL, BATCH_PREFIX)]
    running = [header["id"] for header in headers if header["state"] == "running"]
    node.spawn(_work_through(node, running, pending_first=True))
    return len(running)


async def _work_through(node: Services, batch_ids: list[str], *, pending_first: bool) -> None:
    """A background task's root: errors are logged, and the next start resumes the work."""
    try:
        if pending_first:
            # a revocation needs its badge's entry out first
            await pipeline.publish_pending(node, attempts=1)
            await publish_pending_revocations(node)
        for batch_id in batch_ids:
            await run_batch(node, batch_id)
    except Exception:
        log.exception("issuer background work failed", extra={"batches": batch_ids})


# --- revoking and the VC API ---------------------------------------------------------------


async def revoke_badge(node: Services, uid: Uid, reason: str) -> Record | None:
    """Revoke a badge this node's key issued: set its status list bit and publish the BNS
    revocation (see the module docstring for why both cannot drift apart). None: recorded,
    but the DHT did not answer; the node publishes it later.

    A badge this node holds as its issuer is recorded first (once, however often it is
    revoked); any other UID is the BNS's to judge (`not_issuer`, `bns_not_found`), and only
    a revocation it accepted is logged.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise IssuerError("give a reason for the revocation", code="reason_invalid")
    if len(reason.encode()) > MAX_REASON_BYTES:
        raise IssuerError(f"the reason is over {MAX_REASON_BYTES} bytes", code="reason_invalid")
    store = node.store
    credential = load_badge(store, uid)
    if credential is None or issuer_id(credential) != node.did:
        return await _revoke_elsewhere(node, uid, reason)
    if (load_state(store, uid) or {}).get("state") != BadgeState.REVOKED:
        record_revocation(node, uid, reason)
    await pipeline.publish(node, uid)  # a badge still waiting for its entry gets it first
    if store.get(Kind.JOURNAL, REVOKING_PREFIX + uid) is None:  # out already
        return await node.names.resolve(uid)
    try:
        return await publish_revocation(node, uid)
    except Unreachable:
        return None


async def _revoke_elsewhere(node: Services, uid: Uid, reason: str) -> Record:
    """Revoke a UID this node holds no issued copy of (say, issued offline with its key)."""
    now = _seconds(node.clock())
    record = await node.names.revoke(node.key, uid, reason, now)
    with node.store.batch() as batch:
        node.log.append(batch, "revoke", uid_text(uid), {"reason": reason})
    return record


def record_revocation(node: Services, uid: Uid, reason: str) -> None:
    """The list bit, the re-signed list, the "revoked" state, the "revoking" mark and the
    log entries, in one atomic write, for a badge this node holds."""
    store = node.store
    now = node.clock()
    credential = load_badge(store, uid)
    state = load_state(store, uid)
    if credential is None or state is None:
        raise IssuerError("this node holds no such badge", code="badge_not_found")
    mark = {"reason": reason, "at": _seconds(now)}
    with status.changing(node):
        ops = status.revocation_ops(node, credential, now)
        with store.batch() as batch:
            for kind, key, value in ops:
                batch.put(kind, key, value)
            to = advance(state.get("state"), BadgeState.REVOKED)
            revoked = state | {"state": to, "revoked": format_created(now)}
            batch.put(Kind.INDEX, STATE_PREFIX + uid, _dump(revoked))
            batch.put(Kind.JOURNAL, REVOKING_PREFIX + uid, _dump(mark))
            text = uid_text(uid)
            node.log.append(batch, "revoke", text, {"reason": reason})
            for list_id in status.changed_lists(ops):
                node.log.append(batch, "status-list", list_id, {"set": text})


async def publish_revocation(node: Services, uid: Uid) -> Record:
    """Publish the revocation a "revoking" mark holds, then clear the mark."""
    store = node.store
    raw = store.get(Kind.JOURNAL, REVOKING_PREFIX + uid)
    if raw is None:
        raise IssuerError("no revocation is waiting for this badge", code="revocation_missing")
    mark = json.loads(raw)
    try:
        record = await node.names.revoke(node.key, uid, mark["reason"], mark["at"])
    except BadgeChainError as exc:
        if exc.code == "not_issuer":  # never ours to revoke: retrying cannot help
            store.delete(Kind.JOURNAL, REVOKING_PREFIX + uid)
        raise
    store.delete(Kind.JOURNAL, REVOKING_PREFIX + uid)
    return record


async def publish_pending_revocations(node: Services) -> int:
    """Publish every revocation a crash (or an unreachable DHT) left marked; return how many
    are still waiting (tried again on the next start)."""
    marks = node.store.scan(Kind.JOURNAL, REVOKING_PREFIX)
    left = 0
    for key, _ in list(marks):
        uid = Uid(key[len(REVOKING_PREFIX) :])
        try:
            await publish_revocation(node, uid)
        except BadgeChainError as exc:
            if exc.code == "not_issuer":
                continue
            log.warning("publishing a revocation failed; will retry", extra={"code": exc.code})
            left += 1
    return left


def prepare_credential(credential: object, issuer_did: str, now: datetime) -> dict[str, Any]:
    """A VC API credential ready to sign: VC 2.0 or 1.1, unsigned, issued by `issuer_did`."""
    if not isinstance(credential, dict):
        raise IssuerError("credential must be a JSON object", code="credential_invalid")
    if "proof" in credential:
        raise IssuerError("the credential already carries a proof", code="proof_present")
    context = credential.get("@context")
    contexts = context if isinstance(context, list) else [context]
    if not contexts or contexts[0] not in (VC2_CONTEXT, VC1_CONTEXT):
        raise IssuerError(
            f"@context must start with {VC2_CONTEXT} or {VC1_CONTEXT}", code="credential_invalid"
        )
    types = credential.get("type")
    if "VerifiableCredential" not in (types if isinstance(types, list) else [types]):
        raise IssuerError("type must include VerifiableCredential", code="credential_invalid")
    if not isinstance(credential.get("credentialSubject"), dict | list):
        raise IssuerError("the credential needs a credentialSubject", code="credential_invalid")
    prepared = copy.deepcopy(credential)
    prepared["issuer"] = _own_issuer(credential.get("issuer"), issuer_did)
    if contexts[0] == VC1_CONTEXT:
        if DATA_INTEGRITY_CONTEXT not in contexts:
            prepared["@context"] = [*contexts, DATA_INTEGRITY_CONTEXT]
        prepared.setdefault("issuanceDate", format_created(now))
    return prepared


def _own_issuer(issuer: object, issuer_did: str) -> object:
    if issuer is None:
        return issuer_did
    if isinstance(issuer, dict) and issuer.get("id", issuer_did) == issuer_did:
        return issuer | {"id": issuer_did}
    if issuer == issuer_did:
        return issuer
    raise IssuerError(
        f"this node issues as {issuer_did}, not as {issuer!r:.100}",
        code="issuer_mismatch",
    )


async def _subject_key(node: Services, credential: dict[str, Any]) -> PublicKey | None:
    """The earner key for the BNS entry, for a single subject: its did:key, or the earner
    behind the persona it names."""
    subject = CredentialView(credential).sole_subject
    subject_id = None if subject is None else subject.get("id")
    if isinstance(subject_id, str) and subject_id.startswith("did:key:"):
        return public_key_from_did_key(subject_id)
    if isinstance(subject_id, str):
        return await persona_earner_key(node, subject_id)
    return None


async def issue_credential(
    node: Services, credential: object, *, with_status: bool = False, cryptosuite: str = RDFC
) -> IssueResult:
    """POST /credentials/issue: sign a caller's credential as this node, store and publish.

    A status entry only when the request asks for one (the VC API's credentialStatus
    option); eddsa-rdfc-2022 unless eddsa-jcs-2022 is asked for."""
    now = node.clock()
    prepared = prepare_credential(credential, node.did, now)
    if "credentialStatus" in prepared:
        raise IssuerError(
            "the node gives each credential its own credentialStatus",
            code="credential_status_present",
        )
    _check_issuable(prepared, now)
    earner_key = await _subject_key(node, prepared)
    if with_status:
        context = prepared["@context"]
        contexts = context if isinstance(context, list) else [context]
        if contexts[0] == VC1_CONTEXT and STATUS_CONTEXT not in contexts:
            prepared["@context"] = [*contexts, STATUS_CONTEXT]  # VC 1.1 lacks the entry's terms
    issuance = Issuance(
        build=lambda entry: prepared if entry is None else prepared | {"credentialStatus": entry},
        state=_issued_state(now, via="vc-api"),
        earner_key=earner_key,
        with_status=with_status,
        suite=JCS if cryptosuite == JCS else RDFC,
    )
    return await pipeline.issue(node, issuance)


def _check_issuable(credential: dict[str, Any], now: datetime) -> None:
    """Refuse (400) what this node's own verifier would refuse."""
    if is_open_badge(credential) and not isinstance(credential.get("id"), str):
        raise IssuerError("an Open Badge credential needs an id", code="credential_invalid")
    try:
        starts = _moment(credential, ("validFrom", "issuanceDate"))
        ends = _moment(credential, ("validUntil", "expirationDate"))
    except ValueError as exc:
        raise IssuerError(str(exc), code="credential_invalid") from exc
    if ends is not None and ends <= now:
        raise IssuerError("validUntil has already passed", code="credential_expired")
    if starts is not None and ends is not None and starts > ends:
        raise IssuerError("validFrom is after validUntil", code="credential_invalid")


def _moment(credential: dict[str, Any], names: tuple[str, ...]) -> datetime | None:
    for name in names:
        value = credential.get(name)
        if value is None:
            continue
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ValueError(f"{name} must be a date-time with a time zone")
        return moment
    return None


# --- helpers -------------------------------------------------------------------------------


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _done(row: dict[str, Any], uid: Uid) -> bytes:
    return _dump(row | {"uid": uid_text(uid)})


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()
