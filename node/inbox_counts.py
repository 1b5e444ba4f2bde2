"""Durable counts of what the inbox holds, so a delivery's admission is O(1) (issue 13).

The inbox limits (node/inbox_limits.py, MAX_INBOX_BADGES in node/earner.py) need the number
of badges waiting, their bytes, and the bytes of one sender's. Counting them by scanning every
badge state made each delivery O(n) and a batch to one earner O(n²). Instead:

- Kind.INDEX b"inbox-badge/" + UID → 8-byte size + the sender tag: which badges are counted,
  so a badge leaves the counts exactly as it entered them;
- Kind.JOURNAL b"inbox-room/total" → 8-byte badge count + 8-byte byte count;
- Kind.JOURNAL b"inbox-room/sender/" + tag → 8-byte byte count (absent at zero).

They are written in the same batch as the badge's state (`save_many` when it enters the
inbox, `remove` when it leaves), so a crash never leaves them apart. A home without the
total (one written before these counts, or one whose counts a restore `forget`-ted) rebuilds
all of them from one scan of the badge states, once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.uid import Uid
from badgechain.storage import Batch, Kind, Store

from .badgestore import credential_uid, load_badge, load_record, put_badge, records
from .inbox_limits import InboxRoom, badge_size, sender_of
from .records import BadgeRecord
from .states import BadgeState

__all__ = [
    "MEMBER_PREFIX",
    "InboxRoom",
    "forget",
    "rebuild",
    "remove",
    "room",
    "save",
    "save_many",
]

MEMBER_PREFIX: Final = b"inbox-badge/"
_TOTAL: Final = b"inbox-room/total"
_SENDER: Final = b"inbox-room/sender/"
_TAG: Final = re.compile(r"[0-9a-f]{32}")  # what inbox_limits.sender_of returns
_NO_SENDER: Final = "0" * 32  # a badge whose issuer cannot be read: counted in the total


def _int(raw: bytes | None, at: int = 0) -> int:
    return 0 if raw is None else int.from_bytes(raw[at : at + 8], "big")


def _pack(*numbers: int) -> bytes:
    return b"".join(max(number, 0).to_bytes(8, "big") for number in numbers)


def _total(store: Store) -> tuple[int, int]:
    raw = store.get(Kind.JOURNAL, _TOTAL)
    if raw is None:
        rebuild(store)
        raw = store.get(Kind.JOURNAL, _TOTAL)
    return _int(raw), _int(raw, 8)


def room(store: Store, sender: str) -> InboxRoom:
    """The inbox's counts, with those of `sender` (a tag from `sender_of`): three reads."""
    badges, total_bytes = _total(store)
    sender_bytes = _int(store.get(Kind.JOURNAL, _SENDER + sender.encode()))
    return InboxRoom(badges, total_bytes, sender_bytes)


def remove(store: Store, batch: Batch, uid: Uid) -> None:
    """Uncount a badge leaving the inbox (accepted, rejected), in `batch`; nothing if it was
    not counted."""
    member = store.get(Kind.INDEX, MEMBER_PREFIX + uid)
    if member is None:
        return
    size, tag = _int(member), member[8:]
    badges, total_bytes = _total(store)
    batch.delete(Kind.INDEX, MEMBER_PREFIX + uid)
    batch.put(Kind.JOURNAL, _TOTAL, _pack(badges - 1, total_bytes - size))
    held = _int(store.get(Kind.JOURNAL, _SENDER + tag)) - size
    if held > 0:
        batch.put(Kind.JOURNAL, _SENDER + tag, _pack(held))
    else:
        batch.delete(Kind.JOURNAL, _SENDER + tag)


def save(store: Store, credential: dict[str, Any], state: BadgeRecord) -> Uid:
    """Store a badge with its inbox state and count it, in one write (a claim and an import
    enter the inbox this way; deliveries in groups, node/inbox_group.py)."""
    save_many(store, [(credential, state)])
    return credential_uid(credential)


def save_many(store: Store, badges: Sequence[tuple[dict[str, Any], BadgeRecord]]) -> None:
    """Store badges with their inbox states and count them, in one synced write. A badge
    this node holds already (a claim or a delivery written meanwhile) is left as it is."""
    count, total_bytes = _total(store)
    added: dict[bytes, int] = {}
    with store.batch() as batch:
        for credential, state in badges:
            uid = credential_uid(credential)
            if load_record(store, uid) is not None or store.get(Kind.INDEX, MEMBER_PREFIX + uid):
                continue
            size, sender = _size_and_sender(store, None, credential, state)
            put_badge(batch, credential, state)
            batch.put(Kind.INDEX, MEMBER_PREFIX + uid, _pack(size) + sender.encode())
            count, total_bytes = count + 1, total_bytes + size
            added[sender.encode()] = added.get(sender.encode(), 0) + size
        batch.put(Kind.JOURNAL, _TOTAL, _pack(count, total_bytes))
        for tag, size in added.items():
            held = _int(store.get(Kind.JOURNAL, _SENDER + tag))
            batch.put(Kind.JOURNAL, _SENDER + tag, _pack(held + size))


def forget(batch: Batch) -> None:
    """Make the next count rebuild from the states: for writers that put many inbox badges
    in one batch of their own (a backpack restore)."""
    batch.delete(Kind.JOURNAL, _TOTAL)


def rebuild(store: Store) -> None:
    """Recount the inbox from every badge state (a scan; once per home, or after `forget`)."""
    stale = [key for key, _ in store.scan(Kind.INDEX, MEMBER_PREFIX)]
    stale_senders = [key for key, _ in store.scan(Kind.JOURNAL, _SENDER)]
    members: dict[bytes, bytes] = {}
    senders: dict[bytes, int] = {}
    for uid, state in records(store):
        if state.role != "received" or state.state != BadgeState.INBOX:
            continue
        size, sender = _size_and_sender(store, uid, None, state)
        members[uid] = _pack(size) + sender.encode()
        senders[sender.encode()] = senders.get(sender.encode(), 0) + size
    with store.batch() as batch:
        for key in stale:
            batch.delete(Kind.INDEX, key)
        for key in stale_senders:
            batch.delete(Kind.JOURNAL, key)
        for key, member in members.items():
            batch.put(Kind.INDEX, MEMBER_PREFIX + key, member)
        for tag, held in senders.items():
            batch.put(Kind.JOURNAL, _SENDER + tag, _pack(held))
        batch.put(Kind.JOURNAL, _TOTAL, _pack(len(members), sum(senders.values())))


def _size_and_sender(
    store: Store, uid: Uid | None, credential: dict[str, Any] | None, state: BadgeRecord
) -> tuple[int, str]:
    """A badge's bytes and sender tag: from its state where a delivery recorded them (a claim
    or an import records neither, an import's `sender` is its origin), else from the badge."""
    size, sender = state.bytes, state.sender
    if isinstance(size, int) and isinstance(sender, str) and _TAG.fullmatch(sender):
        return size, sender
    if credential is not None:
        return badge_size(credential), sender_of(credential)
    if uid is None:  # neither the badge nor where it is kept: it counts as nothing
        return 0, _NO_SENDER
    raw = store.get(Kind.BADGE, uid) or b""
    try:
        credential = load_badge(store, uid)
    except (BadgeChainError, ValueError):  # unreadable: it still takes its bytes
        credential = None
    return len(raw), sender_of(credential) if credential is not None else _NO_SENDER
