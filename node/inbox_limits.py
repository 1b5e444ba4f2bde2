"""How much strangers may make a node store through its public inbox (issue 17, item 4).

Anyone can sign a badge to anyone, so the inbox is bounded three ways: in badges (earner.py),
in total bytes, and in bytes per sender (the badge's issuer id). Every badge waiting in the
inbox records its size and a short hash of its issuer in its state, and node/inbox_counts.py
keeps their sums, so a check reads three counters, not the states.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final

from badgechain.chain.badge import issuer_id

from .errors import NodeError

__all__ = [
    "MAX_INBOX_SENDER_BYTES",
    "MAX_INBOX_TOTAL_BYTES",
    "InboxRoom",
    "InboxSenderFull",
    "InboxStorageFull",
    "check_inbox_room",
    "inbox_fields",
]

MAX_INBOX_TOTAL_BYTES: Final = 128 * 1024 * 1024
# One issuer cannot take more than an eighth of the inbox; a typical badge is a few KiB.
MAX_INBOX_SENDER_BYTES: Final = 16 * 1024 * 1024


class InboxStorageFull(NodeError):
    """The inbox holds as many bytes as it may: the earner must accept or reject some first.
    507 is a 5xx, so an issuer's outbox keeps the badge and tries again later."""

    code = "inbox_storage_full"


class InboxSenderFull(NodeError):
    """This issuer's badges waiting in the inbox reach its share; 429: try again later."""

    code = "inbox_sender_full"


def badge_size(credential: dict[str, Any]) -> int:
    """The bytes the badge takes in the store (badgestore.put_badge writes this encoding)."""
    return len(json.dumps(credential, ensure_ascii=False).encode())


def sender_of(credential: dict[str, Any]) -> str:
    """A short fixed-size tag for the badge's issuer: issuer ids are as long as a peer likes."""
    return hashlib.sha256(issuer_id(credential).encode()).hexdigest()[:32]


def inbox_fields(credential: dict[str, Any]) -> dict[str, Any]:
    """What an inbox badge's state records for these checks."""
    return {"bytes": badge_size(credential), "sender": sender_of(credential)}


@dataclass(frozen=True, slots=True)
class InboxRoom:
    """What the inbox holds: badges, their bytes, and the bytes of one sender's badges."""

    badges: int
    total_bytes: int
    sender_bytes: int


def check_inbox_room(room: InboxRoom, size: int) -> None:
    """Raise InboxStorageFull or InboxSenderFull when a badge of `size` bytes would not fit
    in an inbox holding `room` (node/inbox_counts.py: counted, not scanned)."""
    if room.total_bytes + size > MAX_INBOX_TOTAL_BYTES:
        raise InboxStorageFull(
            f"the inbox holds {room.total_bytes} bytes; this badge's {size} would pass its "
            f"{MAX_INBOX_TOTAL_BYTES}"
        )
    if room.sender_bytes + size > MAX_INBOX_SENDER_BYTES:
        raise InboxSenderFull(
            f"this issuer's badges in the inbox take {room.sender_bytes} bytes; this one's "
            f"{size} would pass the {MAX_INBOX_SENDER_BYTES} one issuer may use"
        )
