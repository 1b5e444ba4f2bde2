"""The earner's side of a node: the inbox badges arrive in, and what the earner does with
them — accept (publish where the badge is), reject, move, hide (issue 4, item 4).

States (node/badgestore.py, role "received"): "inbox" → "accepted" ⇄ "hidden", or
"inbox" → "rejected". A rejected badge's document is deleted and its state kept as a
tombstone: the node never serves a badge its earner refused, and a delivery retried by
the issuer's outbox is answered as already received instead of landing in the inbox again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from badgechain.bns.earner_index import index_as_earner, withdraw_as_earner
from badgechain.bns.record import MAX_URLS, MAX_URLS_TOTAL_CHARS, Record, valid_url
from badgechain.chain.badge import BNS_URN_PREFIX, issuer_id
from badgechain.chain.credential import CredentialView
from badgechain.chain.errors import DecodeError
from badgechain.chain.multibase import multibase_decode
from badgechain.chain.uid import Uid, uid_text
from badgechain.chain.verify import verify_credential
from badgechain.storage import Kind, Store

from . import inbox_counts, inbox_group
from .badgestore import credential_uid, load_badge, load_record, put_record, records
from .didweb import did_web_resolvers
from .errors import NodeError
from .inbox_limits import badge_size, check_inbox_room, sender_of
from .records import BadgeRecord
from .services import Services
from .states import BadgeState, advance

__all__ = [
    "MAX_INBOX_BADGES",
    "BadgeNotFound",
    "EarnerError",
    "InboxFull",
    "InboxItem",
    "InboxRefused",
    "UrlInvalid",
    "WrongState",
    "accept",
    "badge_url",
    "hide",
    "inbox_items",
    "move",
    "receive",
    "reject",
]

# Anyone can sign a badge to anyone: a bound keeps strangers from filling the disk.
MAX_INBOX_BADGES: Final = 1000
_VISIBLE = ("accepted", "hidden")
_SEQ_KEY: Final = b"earner-index/seq"  # the last version of an earner-index item written


class EarnerError(NodeError):
    """A request about a received badge that cannot be done; `code` says why."""

    code = "earner_error"


class BadgeNotFound(EarnerError):
    code = "badge_not_found"


class WrongState(EarnerError):
    """The badge is not in the state the action needs (`not_in_inbox`, `not_accepted`)."""

    code = "not_in_inbox"


class UrlInvalid(EarnerError):
    code = "url_invalid"


class InboxRefused(EarnerError):
    """A credential POSTed to the inbox that this node will not take."""

    code = "credential_refused"


class InboxFull(EarnerError):
    code = "inbox_full"


@dataclass(frozen=True, slots=True)
class InboxItem:
    uid: str  # multibase, as the CLI and the gateway write UIDs
    issuer: str
    name: str
    received_at: str

    def to_json(self) -> dict[str, str]:
        return {
            "uid": self.uid,
            "issuer": self.issuer,
            "name": self.name,
            "receivedAt": self.received_at,
        }


def _subject_id(credential: dict[str, Any]) -> object:
    return CredentialView(credential).subject_id


def _now(node: Services) -> str:
    return node.clock().isoformat(timespec="seconds")


# --- the inbox ----------------------------------------------------------------------------


async def receive(node: Services, credential: object) -> tuple[Uid, dict[str, Any]]:
    """Take a delivered credential into the inbox; return its UID and state.

    It must be about this node's DID and verify offline: its proof checks out and no other
    check fails. A badge already held keeps its state, so deliveries are idempotent.
    """
    store = node.store
    if not isinstance(credential, dict):
        raise InboxRefused("the body is not a credential object", code="credential_invalid")
    # The cheap check first: no canonicalization for badges addressed to someone else.
    if not _addressed_here(node, store, _subject_id(credential)):
        raise InboxRefused(
            f"the badge is not about {node.did} or a badge it holds", code="not_for_this_node"
        )
    with inbox_group.arriving(store):  # a group being written waits for this badge
        resolvers = await did_web_resolvers(node, credential)  # a did:web issuer's key
        report = await asyncio.to_thread(
            verify_credential, credential, now=node.clock(), resolvers=resolvers
        )
    if report.failed is not None:
        failed = report.failed
        raise InboxRefused(f"{failed.name}: {failed.message}", code=failed.code)
    if report.check("proof").status != "passed":
        raise InboxRefused(report.check("proof").message, code="proof_unverified")
    uid = credential_uid(credential)
    if report.uid != uid_text(uid):
        raise InboxRefused("the first proof is not the issuer's", code="uid_ambiguous")
    held = load_record(store, uid)
    if held is not None:
        return uid, held.to_json()
    waiting = inbox_group.pending(store, uid)
    if waiting is not None:  # delivered twice at once: answered once it is written
        await inbox_group.save(store, credential, waiting)
        return uid, waiting.to_json()
    size, sender = badge_size(credential), sender_of(credential)
    room = inbox_group.room(store, sender)  # counted, not scanned: O(1) a delivery
    if room.badges >= MAX_INBOX_BADGES:
        raise InboxFull(f"the inbox holds {MAX_INBOX_BADGES} badges already")
    check_inbox_room(room, size)
    state = BadgeRecord(
        role="received", state=BadgeState.INBOX, at=_now(node), bytes=size, sender=sender
    )
    await inbox_group.save(store, credential, state)  # with the deliveries arriving with it
    return uid, state.to_json()


def _addressed_here(node: Services, store: Store, subject: object) -> bool:
    """About this node's DID, or about a badge (urn:bns:) this node holds as its earner:
    one of its personas (a badge issued to the persona) or a badge it accepted (an
    endorsement of it)."""
    if subject == node.did:
        return True
    if not isinstance(subject, str) or not subject.startswith(BNS_URN_PREFIX):
        return False
    try:
        linked = Uid(multibase_decode(subject[len(BNS_URN_PREFIX) :]))
    except DecodeError:
        return False
    state = (load_record(store, linked) if len(linked) == 64 else None) or BadgeRecord()
    if state.role == "persona":
        return True
    return state.role == "received" and state.state in _VISIBLE


def _describe(uid: Uid, credential: dict[str, Any], state: BadgeRecord) -> InboxItem:
    name = CredentialView(credential).achievement.get("name")
    name = name if isinstance(name, str) else credential.get("name")
    return InboxItem(
        uid_text(uid),
        issuer_id(credential),
        name if isinstance(name, str) else "",
        state.at or "",
    )


def inbox_items(node: Services) -> list[InboxItem]:
    """The badges waiting for the earner to accept or reject them, in UID order."""
    store = node.store
    items = []
    for uid, state in records(store):
        if state.role != "received" or state.state != BadgeState.INBOX:
            continue
        credential = load_badge(store, uid)
        if credential is not None:
            items.append(_describe(uid, credential, state))
    return items


# --- the earner's decisions ---------------------------------------------------------------


def badge_url(node: Services, uid: Uid) -> str:
    """Where this node's gateway serves a badge it holds."""
    return f"{node.gateway_url}/badges/{uid_text(uid)}.json"


def _received(store: Store, uid: Uid, allowed: Sequence[str], code: str) -> BadgeRecord:
    state = load_record(store, uid)
    if state is None or state.role != "received":
        raise BadgeNotFound(f"this node holds no received badge {uid_text(uid)}")
    if state.state not in allowed:
        raise WrongState(f"the badge is {state.state}, not {' or '.join(allowed)}", code=code)
    return state


async def accept(node: Services, uid: Uid) -> tuple[dict[str, Any], Record]:
    """Keep the badge and publish its location: this node's gateway URL for it.

    The location is published first, so a failure leaves the badge in the inbox to retry.
    """
    store, names = node.store, node.names
    state = _received(store, uid, ("inbox",), "not_in_inbox")
    record = await names.set_location(node.key, uid, [badge_url(node, uid)])
    await _index(node, record)
    return _settle(node, store, uid, state, "accept", record), record


async def _index(node: Services, record: Record) -> None:
    """The earner's own item in its BNS index (issue 14 item 4), versioned by its clock."""
    if record.entry.earner_key == node.key.public_key:
        await index_as_earner(node.names, node.key, record.entry, _next_seq(node))


def _next_seq(node: Services) -> int:
    """A version later than any this node wrote: its clock in ms, or one past the last."""
    last = int.from_bytes(node.store.get(Kind.JOURNAL, _SEQ_KEY) or bytes(8), "big")
    seq = max(int(node.clock().timestamp() * 1000), last + 1)
    node.store.put(Kind.JOURNAL, _SEQ_KEY, seq.to_bytes(8, "big"))
    return seq


async def move(node: Services, uid: Uid, urls: object) -> tuple[dict[str, Any], Record]:
    """Publish new URLs for an accepted (or hidden) badge."""
    checked = _check_urls(urls)
    store, names = node.store, node.names
    state = _received(store, uid, _VISIBLE, "not_accepted")
    record = await names.set_location(node.key, uid, checked)
    await _index(node, record)  # a hidden badge shown again goes back in the index
    return _settle(node, store, uid, state, "move", record), record


async def hide(node: Services, uid: Uid) -> tuple[dict[str, Any], Record]:
    """Publish an empty location: the badge stays valid, and says where it is no more."""
    store, names = node.store, node.names
    state = _received(store, uid, _VISIBLE, "not_accepted")
    record = await names.hide(node.key, uid)
    await withdraw_as_earner(names, node.key, uid, _next_seq(node))
    return _settle(node, store, uid, state, "hide", record), record


def reject(node: Services, uid: Uid) -> dict[str, Any]:
    """Refuse a badge of the inbox: its document is deleted, a tombstone state stays."""
    store = node.store
    state = _received(store, uid, ("inbox",), "not_in_inbox")
    state = state.with_members(state=advance(state.state, BadgeState.REJECTED), at=_now(node))
    with store.batch() as batch:
        batch.delete(Kind.BADGE, uid)
        put_record(batch, uid, state)
        inbox_counts.remove(store, batch, uid)
        node.log.append(batch, "reject", uid_text(uid))
    return state.to_json()


# The state each earner action leaves a badge in.
_SETTLED_STATE: Final = {
    "accept": BadgeState.ACCEPTED,
    "move": BadgeState.ACCEPTED,
    "hide": BadgeState.HIDDEN,
}


def _settle(
    node: Services, store: Store, uid: Uid, state: BadgeRecord, action: str, record: Record
) -> dict[str, Any]:
    """Record what `action` published: the badge's new state and its log entry, at once."""
    urls = list(record.location.urls) if record.location else []
    settled = advance(state.state, _SETTLED_STATE[action])
    new_state = state.with_members(state=settled, at=_now(node), urls=tuple(urls))
    with store.batch() as batch:
        put_record(batch, uid, new_state)
        if state.state == BadgeState.INBOX:
            inbox_counts.remove(store, batch, uid)
        node.log.append(batch, action, uid_text(uid), {"urls": urls})
    return new_state.to_json()


def _check_urls(urls: object) -> tuple[str, ...]:
    """1 to MAX_URLS http(s) URLs that fit a BNS location; UrlInvalid otherwise."""
    if not isinstance(urls, list) or not urls:
        raise UrlInvalid("give the badge's new URLs as a non-empty list (hide it instead)")
    if len(urls) > MAX_URLS:
        raise UrlInvalid(f"at most {MAX_URLS} URLs")
    bad = [url for url in urls if not valid_url(url)]  # a None in the list is bad too
    if bad:
        raise UrlInvalid(f"{str(bad[0])[:100]!r} is not an http(s) ASCII URL of at most 256 chars")
    if sum(map(len, urls)) > MAX_URLS_TOTAL_CHARS:
        raise UrlInvalid(f"the URLs are over {MAX_URLS_TOTAL_CHARS} characters together")
    return tuple(urls)
