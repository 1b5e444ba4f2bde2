"""Collections: a shareable, public list of badges this node holds (issue 5, item 3).

Its id is unguessable (`secrets.token_urlsafe`), so only those given the link find it.
Kind.INDEX, key = b"collections/" + id: {"id", "name", "description", "created", "uids",
"updated"?} as JSON, written in one put. A badge later hidden or rejected drops out of what
is shown. The owner edits (replaces name, badges, description) or deletes a collection, and
sees each badge's status (`collection_status`); every change is logged as a sealed
`collection` entry (docs/log.md), so the link never reaches the public log.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from typing import Any, Final

from badgechain.chain.badge import issuer_id
from badgechain.chain.credential import CredentialView
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.proof import format_created
from badgechain.chain.uid import Uid, parse_uid, uid_text
from badgechain.storage import Kind, Store

from .badgestore import load_badge, load_state
from .errors import NodeError
from .services import Services
from .states import NOT_SERVED

__all__ = [
    "COLLECTION_PREFIX",
    "MAX_COLLECTION_BADGES",
    "MAX_COLLECTION_NAME_CHARS",
    "CollectionError",
    "collection_json",
    "collection_status",
    "create_collection",
    "delete_collection",
    "list_collections",
    "load_collection",
    "new_collection_id",
    "update_collection",
]

COLLECTION_PREFIX: Final = b"collections/"
MAX_COLLECTION_NAME_CHARS: Final = 200
MAX_DESCRIPTION_CHARS: Final = 2000
MAX_COLLECTION_BADGES: Final = 200
MAX_COLLECTIONS_LISTED: Final = 10_000
_ID_BYTES: Final = 16  # 128 random bits
_ID: Final = re.compile(r"[A-Za-z0-9_-]{22}")  # what token_urlsafe(16) writes
# How long creating a collection waits for the BNS to say whether its badges are revoked.


class CollectionError(NodeError):
    """A collection request the node refuses; `code` says why."""

    code = "collection_invalid"


def _shown(store: Store, uid: Uid) -> dict[str, Any] | None:
    """The badge's credential when this node holds it and may show it."""
    credential = load_badge(store, uid)
    state = load_state(store, uid) or {}
    return None if state.get("state") in NOT_SERVED else credential


def _checked_uids(uids: object, store: Store, kept: tuple[str, ...] = ()) -> list[str]:
    """The UIDs, each one this node may show, or one `kept` from before (an edit need not
    drop a badge hidden since it was added)."""
    if not isinstance(uids, list) or not 1 <= len(uids) <= MAX_COLLECTION_BADGES:
        raise CollectionError(
            f"uids: a list of 1 to {MAX_COLLECTION_BADGES} badge UIDs", code="uids_invalid"
        )
    checked: list[str] = []
    for text in uids:
        if not isinstance(text, str):
            raise CollectionError("uids: each UID is a string", code="uid_invalid")
        uid = parse_uid(text)
        if uid_text(uid) not in kept and _shown(store, uid) is None:
            raise CollectionError(
                f"this node holds no badge {text:.100} it may show",
                code="badge_not_held",
            )
        if uid_text(uid) not in checked:
            checked.append(uid_text(uid))
    return checked


def _checked_text(value: object, max_chars: int, name: str, *, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or len(value) > max_chars or (required and not value.strip()):
        raise CollectionError(
            f"{name} must be text of {int(required)} to {max_chars} characters",
            code=f"{name}_invalid",
        )
    return value


async def _revocations(node: Services, uids: list[str]) -> dict[str, str | None]:
    """Each UID's revocation reason as the BNS says it now (None: not revoked); a UID the BNS
    did not answer for in time is left out."""
    wanted = [parse_uid(text) for text in uids]
    try:
        async with asyncio.timeout(node.settings.collection_revocation_check_s):
            answers = await asyncio.gather(
                *(node.names.resolve(uid) for uid in wanted), return_exceptions=True
            )
    except TimeoutError:
        return {}
    found: dict[str, str | None] = {}
    for text, answer in zip(uids, answers, strict=True):
        if isinstance(answer, BaseException):
            if not isinstance(answer, BadgeChainError | TimeoutError):
                raise answer
            continue
        found[text] = None if answer.revocation is None else answer.revocation.reason
    return found


async def _refuse_revoked(node: Services, uids: list[str]) -> None:
    """CollectionError `badge_revoked` when the BNS says a badge was revoked: a shared page
    of badges should not show one its issuer withdrew. A BNS that does not answer in time
    decides nothing (the page marks what it finds later)."""
    for text, reason in (await _revocations(node, uids)).items():
        if reason is not None:
            raise CollectionError(
                f"badge {text:.24}… was revoked by its issuer "
                f"({reason[:100]!r}); leave it out of the collection",
                code="badge_revoked",
            )


def new_collection_id() -> str:
    """An unguessable id never led by "-" (the CLI takes it as an argument, and click reads
    an argument that starts with "-" as an option)."""
    while (made := secrets.token_urlsafe(_ID_BYTES)).startswith("-"):
        pass
    return made


async def create_collection(
    node: Services, name: object, uids: object, description: object = None
) -> dict[str, Any]:
    """Store a new collection of badges this node holds and that are not revoked; return
    its stored record."""
    store = node.store
    record: dict[str, Any] = {
        "id": new_collection_id(),
        "name": _checked_text(name, MAX_COLLECTION_NAME_CHARS, "name", required=True),
        "description": _checked_text(
            description, MAX_DESCRIPTION_CHARS, "description", required=False
        ),
        "created": format_created(node.clock()),
        "uids": _checked_uids(uids, store),
    }
    await _refuse_revoked(node, record["uids"])
    with store.batch() as batch:
        batch.put(Kind.INDEX, COLLECTION_PREFIX + record["id"].encode(), _dump(record))
        details = {"name": record["name"], "badges": len(record["uids"])}
        node.log.append(batch, "collection", record["id"], details)
    return record


async def update_collection(
    node: Services, collection_id: str, name: object, uids: object, description: object = None
) -> dict[str, Any]:
    """Replace a collection's name, badges and description; its id (its link) and creation
    time stay. Only badges new to it are checked against the BNS: one revoked since it was
    added stays, and `collection_status` says so."""
    store = node.store
    record = load_collection(store, collection_id)
    changed = record | {
        "name": _checked_text(name, MAX_COLLECTION_NAME_CHARS, "name", required=True),
        "description": _checked_text(
            description, MAX_DESCRIPTION_CHARS, "description", required=False
        ),
        "uids": _checked_uids(uids, store, tuple(record["uids"])),
        "updated": format_created(node.clock()),
    }
    await _refuse_revoked(node, [uid for uid in changed["uids"] if uid not in record["uids"]])
    with store.batch() as batch:
        load_collection(store, collection_id)  # not deleted while the BNS was asked
        batch.put(Kind.INDEX, COLLECTION_PREFIX + collection_id.encode(), _dump(changed))
        details = {"change": "edit", "name": changed["name"], "badges": len(changed["uids"])}
        node.log.append(batch, "collection", collection_id, details)
    return changed


def delete_collection(node: Services, collection_id: str) -> None:
    """Delete a collection: its link answers 404 from now on."""
    load_collection(node.store, collection_id)
    with node.store.batch() as batch:
        batch.delete(Kind.INDEX, COLLECTION_PREFIX + collection_id.encode())
        node.log.append(batch, "collection", collection_id, {"change": "delete"})


async def collection_status(node: Services, record: dict[str, Any]) -> dict[str, Any]:
    """The owner's view of a collection: every badge in it with its status here and in the
    BNS. `status` is `revoked` (its issuer revoked it), `hidden` or `rejected` (not shown on
    the public page), `not_held` (no longer on this node), or `shown`; `revocation` says
    whether the BNS answered (`revoked`, `not_revoked`, `unknown`)."""
    revocations = await _revocations(node, record["uids"])
    badges = []
    for text in record["uids"]:
        uid = parse_uid(text)
        credential = load_badge(node.store, uid)
        state = str((load_state(node.store, uid) or {}).get("state", "")) or None
        reason = revocations.get(text)
        if text not in revocations:
            revocation = "unknown"
        else:
            revocation = "not_revoked" if reason is None else "revoked"
        summary = _badge_summary(text, credential) if credential is not None else {"uid": text}
        badges.append(
            summary
            | {
                "state": state,
                "status": _status(credential is not None, state, revocation),
                "revocation": revocation,
            }
            | ({"reason": reason} if reason is not None else {})
        )
    fields = ("id", "name", "description", "created")
    extra = {"updated": record["updated"]} if "updated" in record else {}
    return {name: record[name] for name in fields} | extra | {"badges": badges}


def _status(held: bool, state: str | None, revocation: str) -> str:
    if revocation == "revoked" or state == "revoked":
        return "revoked"
    if state == "rejected":
        return "rejected"
    if not held:
        return "not_held"
    return "hidden" if state in NOT_SERVED else "shown"


def load_collection(store: Store, collection_id: str) -> dict[str, Any]:
    """The stored record; 400 `collection_id_invalid`, 404 `collection_not_found`."""
    if not _ID.fullmatch(collection_id):
        raise CollectionError("not a collection id", code="collection_id_invalid")
    raw = store.get(Kind.INDEX, COLLECTION_PREFIX + collection_id.encode())
    if raw is None:
        raise CollectionError("this node has no such collection", code="collection_not_found")
    return dict(json.loads(raw))


def list_collections(store: Store) -> list[dict[str, Any]]:
    """Every collection's record, in id order."""
    return [
        dict(json.loads(value))
        for _, value in store.scan(Kind.INDEX, COLLECTION_PREFIX, limit=MAX_COLLECTIONS_LISTED)
    ]


def collection_json(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    """The public view of a collection: its badges this node still shows, with their links."""
    badges = []
    for text in record["uids"]:
        credential = _shown(store, parse_uid(text))
        if credential is not None:
            badges.append(_badge_summary(text, credential))
    fields = ("id", "name", "description", "created")
    return {name: record[name] for name in fields} | {"badges": badges}


def _badge_summary(uid: str, credential: dict[str, Any]) -> dict[str, Any]:
    view = CredentialView(credential)
    name = view.achievement.get("name")
    return {
        "uid": uid,
        "name": name if isinstance(name, str) else credential.get("name"),
        "issuer": issuer_id(credential),
        "earner": view.subject.get("id"),
        "json": f"/badges/{uid}.json",
        "png": f"/badges/{uid}.png",
    }


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()
