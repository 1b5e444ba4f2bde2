"""Badges this node holds, in its LevelDB: issued ones, received ones, and their state.

Kind.BADGE, key = the 64-byte UID: the credential as UTF-8 JSON (exactly the signed
document). Kind.INDEX, key = b"badge-state/" + UID: a small JSON object saying how this
node relates to the badge ({"role": "issued"|"received", "state": ..., "at": ...}), read
and written typed as a `BadgeRecord` (node/records.py) or, by older callers, as a dict.
An EndorsementCredential also gets Kind.INDEX b"endorsements/" + endorsed UID + its UID,
so a badge's endorsements are one scan. All are written in one atomic batch.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, TypeVar

from badgechain.chain.badge import BNS_URN_PREFIX
from badgechain.chain.credential import CredentialView
from badgechain.chain.errors import DecodeError, ProofError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.multibase import multibase_decode
from badgechain.chain.proof import proof_list, proof_value_bytes
from badgechain.chain.uid import Uid
from badgechain.storage import Batch, Kind, Store

from .records import BadgeRecord, JsonRecord

__all__ = [
    "ENDORSEMENT_PREFIX",
    "STATE_PREFIX",
    "credential_uid",
    "endorsed_uid",
    "endorsement_uids",
    "journal_object",
    "journal_record",
    "load_badge",
    "load_record",
    "load_state",
    "put_badge",
    "put_record",
    "put_state",
    "records",
    "save_badge",
    "save_record",
    "set_state",
    "states",
]

R = TypeVar("R", bound=JsonRecord)

STATE_PREFIX: Final = b"badge-state/"
ENDORSEMENT_PREFIX: Final = b"endorsements/"


def credential_uid(credential: dict[str, Any]) -> Uid:
    """The UID of a signed badge: the proofValue of its (first) issuer proof; ProofError
    when it has none (a peer's document may carry `"proof": []`)."""
    proofs = proof_list(credential)
    if not proofs:
        raise ProofError("the badge carries no proof", code="proof_missing")
    return Uid(proof_value_bytes(proofs[0]))


def save_badge(
    store: Store, credential: dict[str, Any], state: BadgeRecord | dict[str, Any]
) -> Uid:
    with store.batch() as batch:
        return put_badge(batch, credential, state)


def put_badge(batch: Batch, credential: dict[str, Any], state: BadgeRecord | dict[str, Any]) -> Uid:
    """Add the badge and its state to `batch`, for callers with more to write atomically."""
    uid = credential_uid(credential)
    batch.put(Kind.BADGE, uid, json.dumps(credential, ensure_ascii=False).encode())
    stored = state.to_bytes() if isinstance(state, BadgeRecord) else json.dumps(state).encode()
    batch.put(Kind.INDEX, STATE_PREFIX + uid, stored)
    endorsed = endorsed_uid(credential)
    if endorsed is not None:
        batch.put(Kind.INDEX, ENDORSEMENT_PREFIX + endorsed + uid, b"")
    return uid


def endorsed_uid(credential: dict[str, Any]) -> Uid | None:
    """The UID an EndorsementCredential's subject (`urn:bns:<UID>`) names; None otherwise."""
    view = CredentialView(credential)
    subject_id = view.subject_id
    if "EndorsementCredential" not in view.types:
        return None
    if subject_id is None or not subject_id.startswith(BNS_URN_PREFIX):
        return None
    try:
        raw = multibase_decode(subject_id[len(BNS_URN_PREFIX) :])
    except DecodeError:
        return None
    return Uid(raw) if len(raw) == 64 else None


def endorsement_uids(store: Store, endorsed: Uid, *, limit: int | None = None) -> list[Uid]:
    """UIDs of the endorsements this node has stored of the badge `endorsed`, in UID order."""
    prefix = ENDORSEMENT_PREFIX + endorsed
    return [Uid(key[len(prefix) :]) for key, _ in store.scan(Kind.INDEX, prefix, limit=limit)]


def load_badge(store: Store, uid: Uid) -> dict[str, Any] | None:
    raw = store.get(Kind.BADGE, uid)
    if raw is None:
        return None
    value = parse_json(raw)
    return value if isinstance(value, dict) else None


def load_state(store: Store, uid: Uid) -> dict[str, Any] | None:
    raw = store.get(Kind.INDEX, STATE_PREFIX + uid)
    return None if raw is None else dict(json.loads(raw))


def set_state(store: Store, uid: Uid, state: dict[str, Any]) -> None:
    store.put(Kind.INDEX, STATE_PREFIX + uid, json.dumps(state).encode())


def put_state(batch: Batch, uid: Uid, state: dict[str, Any]) -> None:
    """`set_state` inside a batch, for callers with more to write atomically."""
    batch.put(Kind.INDEX, STATE_PREFIX + uid, json.dumps(state).encode())


def load_record(store: Store, uid: Uid) -> BadgeRecord | None:
    """The badge's state record, typed; None when this node holds no such badge."""
    raw = store.get(Kind.INDEX, STATE_PREFIX + uid)
    return None if raw is None else BadgeRecord.from_bytes(raw)


def save_record(store: Store, uid: Uid, record: BadgeRecord) -> None:
    store.put(Kind.INDEX, STATE_PREFIX + uid, record.to_bytes())


def put_record(batch: Batch, uid: Uid, record: BadgeRecord) -> None:
    """`save_record` inside a batch, for callers with more to write atomically."""
    batch.put(Kind.INDEX, STATE_PREFIX + uid, record.to_bytes())


def records(store: Store) -> list[tuple[Uid, BadgeRecord]]:
    """Every badge this node holds, with its state record, in UID order."""
    return [
        (Uid(key[len(STATE_PREFIX) :]), BadgeRecord.from_bytes(value))
        for key, value in store.scan(Kind.INDEX, STATE_PREFIX)
    ]


def states(store: Store) -> list[tuple[Uid, dict[str, Any]]]:
    """Every badge this node holds, with its state, in UID order."""
    return [
        (Uid(key[len(STATE_PREFIX) :]), dict(json.loads(value)))
        for key, value in store.scan(Kind.INDEX, STATE_PREFIX)
    ]


_RECORD_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def journal_object(store: Store, prefix: bytes, record_id: str) -> dict[str, Any] | None:
    """A JSON journal record (a badge class, a batch) named by an id the node minted;
    None when there is none, or the id could not be one of ours."""
    if not _RECORD_ID.fullmatch(record_id):
        return None
    raw = store.get(Kind.JOURNAL, prefix + record_id.encode())
    return None if raw is None else dict(json.loads(raw))


def journal_record(store: Store, prefix: bytes, record_id: str, kind: type[R]) -> R | None:
    """`journal_object`, typed as `kind` (a ClassRecord, a BatchHeader)."""
    if not _RECORD_ID.fullmatch(record_id):
        return None
    raw = store.get(Kind.JOURNAL, prefix + record_id.encode())
    return None if raw is None else kind.from_bytes(raw)
