"""Collections: a shareable, public list of badges this node holds (issue 5, item 3).

Its id is unguessable (`secrets.token_urlsafe`), so only those given the link find it.
Kind.INDEX, key = b"collections/" + id: {"id", "name", "description", "created", "uids"}
as JSON, written in one put. A badge later hidden or rejected drops out of what is shown.
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
    "create_collection",
    "list_collections",
    "load_collection",
]

COLLECTION_PREFIX: Final = b"collections/"
MAX_COLLECTION_NAME_CHARS: Final = 200
MAX_DESCRIPTION_CHARS: Final = 2000
MAX_COLLECTION_BADGES: Final = 200
MAX_COLLECTIONS_LISTED: Final = 10_000
_ID_BYTES: Final = 16  # 128 random bits
_ID: Final = re.compile(r"[A-Za-z0-9_-]{22}")  # what token_urlsafe(16) writes
# How long creating a collection waits for the BNS to say whether its badges are revoked.
REVOCATION_CHECK_S: Final = 10.0


class CollectionError(NodeError):
    """A collection request the node refuses; `code` says why."""

    code = "collection_invalid"


def _shown(store: Store, uid: Uid) -> dict[str, Any] | None:
    """The badge's credential when this node holds it and may show it."""
    credential = load_badge(store, uid)
    state = load_state(store, uid) or {}
    return None if state.get("state") in NOT_SERVED else credential


def _checked_uids(uids: object, store: Store) -> list[str]:
    if not isinstance(uids, list) or not 1 <= len(uids) <= MAX_COLLECTION_BADGES:
        raise CollectionError(
            f"uids: a list of 1 to {MAX_COLLECTION_BADGES} badge UIDs", code="uids_invalid"
        )
    checked: list[str] = []
    for text in uids:
        if not isinstance(text, str):
            raise CollectionError("uids: each UID is a string", code="uid_invalid")
        uid = parse_uid(text)
        if _shown(store, uid) is None:
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


async def _refuse_revoked(node: Services, uids: list[str]) -> None:
    """CollectionError `badge_revoked` when the BNS says a badge was revoked: a shared page
    of badges should not show one its issuer withdrew. A BNS that does not answer in time
    decides nothing (the page marks what it finds later)."""
    wanted = [parse_uid(text) for text in uids]
    try:
        async with asyncio.timeout(REVOCATION_CHECK_S):
            answers = await asyncio.gather(
                *(node.names.resolve(uid) for uid in wanted), return_exceptions=True
            )
    except TimeoutError:
        return
    for text, answer in zip(uids, answers, strict=True):
        if isinstance(answer, BaseException):
            if not isinstance(answer, BadgeChainError | TimeoutError):
                raise answer
            continue
        if answer.revocation is not None:
            raise CollectionError(
                f"badge {text:.24}… was revoked by its issuer "
                f"({answer.revocation.reason[:100]!r}); leave it out of the collection",
                code="badge_revoked",
            )


async def create_collection(
    node: Services, name: object, uids: object, description: object = None
) -> dict[str, Any]:
    """Store a new collection of badges this node holds and that are not revoked; return
    its stored record."""
    store = node.store
    record: dict[str, Any] = {
        "id": secrets.token_urlsafe(_ID_BYTES),
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
