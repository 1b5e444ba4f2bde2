"""The earner's backpack (issue 14 item 3): every badge this node holds for its earner, with
its state and where it came from; badges brought in from other systems; export and restore.

Delivered badges and personas live in node/badgestore.py. An imported badge is kept as the
exact bytes it came as (a baked PNG, a VC-JWT, OB 2.0 JSON), so it verifies again as it did,
at Kind.JOURNAL b"backpack/" + its id: its BadgeChain UID when it has one, else a digest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final

from badgechain.chain.badge import issuer_id
from badgechain.chain.credential import CredentialView
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.multibase import multibase_decode
from badgechain.chain.uid import Uid, uid_text
from badgechain.chain.verify import MAX_INPUT_BYTES, Report
from badgechain.storage import Batch, Kind

from . import earner, inbox_counts
from .backpack_relocate import checked_gateway, queue_relocation
from .badgestore import credential_uid, load_badge, load_record, put_badge, records
from .errors import NodeError
from .records import BadgeRecord
from .services import Services
from .verifycache import verify_at_gateway

__all__ = [
    "BACKPACK_TYPE",
    "IMPORT_PREFIX",
    "MAX_IMPORT_BYTES",
    "BackpackError",
    "HeldBadge",
    "export_backpack",
    "held_badges",
    "import_badge",
    "restore_backpack",
]

BACKPACK_TYPE: Final = "BadgeChainBackpack"
IMPORT_PREFIX: Final = b"backpack/"
MAX_IMPORT_BYTES: Final = MAX_INPUT_BYTES  # what chain.verify reads at most
MAX_RESTORE_ITEMS: Final = 10_000
_HELD_STATES: Final = ("inbox", "accepted", "hidden")  # a rejected badge is no longer held
_SOURCES: Final = {"received": "delivered", "persona": "persona"}
# What a restored badge may be: a state its role reaches and the node knows how to go on from.
_RESTORED_STATES: Final = {"received": _HELD_STATES, "persona": ("unpublished", "accepted")}


class BackpackError(NodeError):
    code = "backpack_error"  # its codes' statuses: node/errors.py


@dataclass(frozen=True, slots=True)
class HeldBadge:
    id: str  # the UID (multibase) when the badge has one, else "sha256-…" of its bytes
    uid: str | None
    name: str
    issuer: str
    state: str  # inbox | accepted | hidden (delivered), accepted (imported), a persona's state
    source: str  # delivered | persona | imported
    origin: str  # who delivered it, or the file or URL it was imported from
    format: str  # json, png, svg, vc-jwt, ob2/png, … (chain.verify's names)
    at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uid": self.uid,
            "name": self.name,
            "issuer": self.issuer,
            "state": self.state,
            "source": self.source,
            "origin": self.origin,
            "format": self.format,
            "at": self.at,
        }


def _name(credential: dict[str, Any] | None) -> str:
    if credential is None:
        return ""
    name = CredentialView(credential).achievement.get("name") or credential.get("name")
    if isinstance(name, dict):  # OB 2.0 embeds its BadgeClass
        name = name.get("name")
    badge = credential.get("badge")
    if not name and isinstance(badge, dict):
        name = badge.get("name")
    return name[:200] if isinstance(name, str) else ""


def _issuer(credential: dict[str, Any] | None) -> str:
    if credential is None:
        return ""
    found: object = issuer_id(credential)
    badge = credential.get("badge")
    if not found and isinstance(badge, dict):  # OB 2.0: the BadgeClass names the issuer
        nested = badge.get("issuer")
        found = nested.get("id", "") if isinstance(nested, dict) else nested
    return found[:2048] if isinstance(found, str) else ""


def held_badges(node: Services) -> list[HeldBadge]:
    """What the earner holds: delivered badges not rejected, personas, and imports."""
    held = []
    for uid, record in records(node.store):
        source = _SOURCES.get(record.role or "")
        source = "imported" if source and record.via == "import" else source
        if source is None or (source != "persona" and record.state not in _HELD_STATES):
            continue
        credential = load_badge(node.store, uid)
        origin = record.sender or (node.did if source == "persona" else "")
        text = uid_text(uid)
        state, at = record.state or "", record.at or ""
        held.append(
            HeldBadge(
                text,
                text,
                _name(credential),
                _issuer(credential),
                state,
                source,
                origin,
                "json",
                at,
            )
        )
    return held + [_held_import(item) for item in _imports(node)]


def _imports(node: Services) -> list[dict[str, Any]]:
    items = []
    for _, value in node.store.scan(Kind.JOURNAL, IMPORT_PREFIX):
        try:
            item = json.loads(value)
        except ValueError:
            continue  # never written by us: skip rather than fail the whole list
        if isinstance(item, dict):
            items.append(item)
    return items


def _held_import(item: dict[str, Any]) -> HeldBadge:
    text = {k: str(item.get(k) or "") for k in ("id", "name", "issuer", "origin", "format", "at")}
    uid = item.get("uid")
    return HeldBadge(
        text["id"],
        uid if isinstance(uid, str) else None,
        text["name"],
        text["issuer"],
        "accepted",
        "imported",
        text["origin"],
        text["format"],
        text["at"],
    )


# -- import -------------------------------------------------------------------------------------


def _import_id(report: Report, data: bytes) -> str:
    return report.uid or "sha256-" + hashlib.sha256(data).hexdigest()


def _already_held(node: Services, badge_id: str, uid: str | None) -> bool:
    if node.store.get(Kind.JOURNAL, IMPORT_PREFIX + badge_id.encode()) is not None:
        return True
    if uid is None:
        return False
    try:
        raw = Uid(multibase_decode(uid))
    except BadgeChainError:
        return False
    record = load_record(node.store, raw) if len(raw) == 64 else None
    return record is not None and record.role in _SOURCES and record.state in _HELD_STATES


async def import_badge(node: Services, data: bytes, origin: str) -> tuple[HeldBadge, Report]:
    """Verify `data` (OB 3.0 or 2.0 JSON, a baked PNG or SVG, a VC-JWT) with every resolver
    this node has, then keep it as accepted. An invalid badge is refused (`badge_invalid`,
    naming the failed check); one whose verdict is indeterminate is kept, and says so."""
    if len(data) > MAX_IMPORT_BYTES:
        raise BackpackError(f"a badge is at most {MAX_IMPORT_BYTES} bytes", code="badge_too_large")
    report = await verify_at_gateway(node, data)
    if report.failed is not None:
        failed = report.failed
        raise BackpackError(
            f"the badge does not verify: {failed.name} [{failed.code}] {failed.message}",
            code="badge_invalid",
        )
    badge_id = _import_id(report, data)
    if _already_held(node, badge_id, report.uid):
        raise BackpackError(f"this node holds {badge_id} already", code="already_held")
    adopted = await _adopt(node, report, origin)
    if adopted is not None:
        return adopted, report
    item = {
        "id": badge_id,
        "uid": report.uid,
        "name": _name(report.credential),
        "issuer": _issuer(report.credential),
        "origin": origin[:2048],
        "format": report.format,
        "at": node.clock().isoformat(timespec="seconds"),
        "verdict": report.verdict,
        "data": base64.b64encode(data).decode(),
    }
    node.store.put(Kind.JOURNAL, IMPORT_PREFIX + badge_id.encode(), json.dumps(item).encode())
    return _held_import(item), report


async def _adopt(node: Services, report: Report, origin: str) -> HeldBadge | None:
    """A BadgeChain badge whose BNS entry names this node's key as its earner is taken in as
    if delivered, then accepted: this node publishes its location and its earner-index item.
    None for any other badge (kept as a plain import)."""
    credential = report.credential
    if report.uid is None or report.format != "json" or not isinstance(credential, dict):
        return None
    uid = credential_uid(credential)
    try:
        entry = (await node.names.resolve(uid)).entry
    except BadgeChainError:  # no entry, or the BNS did not answer: a plain import
        return None
    if entry.earner_key != node.key.public_key or load_record(node.store, uid) is not None:
        return None
    at = node.clock().isoformat(timespec="seconds")
    inbox = BadgeRecord(role="received", state="inbox", at=at, sender=origin[:2048], via="import")
    inbox_counts.save(node.store, credential, inbox)
    try:
        state = (await earner.accept(node, uid))[0]["state"]
    except BadgeChainError:  # the BNS write failed: it waits in the inbox for `accept`
        state = "inbox"
    text = uid_text(uid)
    name, issuer = _name(credential), _issuer(credential)
    return HeldBadge(text, text, name, issuer, state, "imported", origin, "json", at)


def imported_bytes(item: dict[str, Any]) -> bytes:
    try:
        return base64.b64decode(str(item.get("data", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BackpackError(
            "an imported badge's data is not base64", code="backpack_invalid"
        ) from exc


# -- export and restore -------------------------------------------------------------------------


def export_backpack(node: Services) -> dict[str, Any]:
    """Every held badge as it is stored (delivered and persona badges with their state
    records; imports as their original bytes). The key material is the CLI's to add."""
    badges = []
    for uid, record in records(node.store):
        if record.role not in _SOURCES:
            continue
        credential = load_badge(node.store, uid)
        if credential is not None:
            badges.append({"record": record.to_json(), "credential": credential})
    return {
        "type": BACKPACK_TYPE,
        "version": 1,
        "did": node.did,
        "gateway": node.gateway_url,  # a restore elsewhere moves the locations named here
        "badges": badges,
        "imports": _imports(node),
    }


def restore_backpack(node: Services, document: object) -> tuple[int, int]:
    """Put back what `export_backpack` wrote, skipping what this node holds already; queue
    the move of their locations from the exporting node to this one (node/backpack_relocate.py).
    Returns how many badges it restored and how many locations it will move; refuses another
    earner's backpack."""
    if not isinstance(document, dict) or document.get("type") != BACKPACK_TYPE:
        raise BackpackError(f"not a {BACKPACK_TYPE} document", code="backpack_invalid")
    if document.get("did") != node.did:
        raise BackpackError(
            f"the backpack is {document.get('did')!s:.100}'s, not this node's ({node.did})",
            code="backpack_key_mismatch",
        )
    badges, imports = document.get("badges"), document.get("imports")
    if not isinstance(badges, list) or not isinstance(imports, list):
        raise BackpackError("the backpack needs badges and imports lists", code="backpack_invalid")
    if len(badges) + len(imports) > MAX_RESTORE_ITEMS:
        raise BackpackError(f"at most {MAX_RESTORE_ITEMS} badges", code="backpack_too_large")
    restored = relocating = 0
    old_gateway = checked_gateway(document.get("gateway"))
    with node.store.batch() as batch:
        for badge in badges:
            put = _restore_badge(node, batch, badge)
            if put is not None:
                restored += 1
                relocating += queue_relocation(node, batch, put[0], put[1], old_gateway)
        for item in imports:
            restored += _restore_import(node, batch, item)
    return restored, relocating


def _restore_badge(node: Services, batch: Batch, badge: object) -> tuple[Uid, BadgeRecord] | None:
    """The badge's UID and record when it was put back; None when this node holds it."""
    if not isinstance(badge, dict) or not isinstance(badge.get("credential"), dict):
        raise BackpackError("each badge holds a record and a credential", code="backpack_invalid")
    try:
        record = BadgeRecord.from_bytes(json.dumps(badge.get("record")).encode())
    except ValueError as exc:
        raise BackpackError("a badge's record is not an object", code="backpack_invalid") from exc
    if record.role not in _SOURCES:
        raise BackpackError("a backpack holds received and persona badges", code="backpack_invalid")
    if record.state not in _RESTORED_STATES[record.role]:
        raise BackpackError(f"a badge cannot be {record.state!r:.40}", code="backpack_invalid")
    try:
        uid = credential_uid(badge["credential"])
    except BadgeChainError as exc:
        raise BackpackError(f"a badge has no UID: {exc.message}", code="backpack_invalid") from exc
    if load_record(node.store, uid) is not None:
        return None
    put_badge(batch, badge["credential"], record)
    if record.state == "inbox":  # many in one batch: the inbox counts are rebuilt
        inbox_counts.forget(batch)
    return uid, record


def _restore_import(node: Services, batch: Batch, item: object) -> int:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise BackpackError("each import holds an id and its data", code="backpack_invalid")
    if len(imported_bytes(item)) > MAX_IMPORT_BYTES or len(item["id"]) > 200:
        raise BackpackError("an imported badge is too large", code="backpack_invalid")
    key = IMPORT_PREFIX + item["id"].encode()
    if node.store.get(Kind.JOURNAL, key) is not None:
        return 0
    batch.put(Kind.JOURNAL, key, json.dumps(item).encode())
    return 1
