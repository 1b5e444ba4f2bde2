"""The node's signed log in LevelDB (Kind.LOG): appends inside the caller's batches, pages.

Keys: b"e" + 8-byte big-endian seq → the entry's canonical JSON; b"h" → the signed head,
rewritten in the same batch as every entry, so entries and head change together.

The stored head is the truth: nothing about the log is cached across batches, so a batch
that fails (its `with` block raised) leaves nothing behind, in LevelDB or in memory. Several
appends in one batch chain through the entry appended last in that batch, which is held
until the next append. Two batches that append while both are open (an `await` inside a
`with store.batch()` block) would fork the log: batches stay synchronous.

A private action (chain.logentry.PRIVATE_ACTIONS) is appended as a `sealed` entry; its
opening (the content and the random salt) goes under b"o" + seq in the same batch. The
database lives in the home (mode 0700) beside the private records themselves; b"o" keys
are never served. `public_page` is what GET /log and the feed show: unsealed private
entries written before sealing existed are replaced there by {seq, redacted: hash}.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from badgechain.chain.keys import KeyPair
from badgechain.chain.logentry import (
    SALT_BYTES,
    check_content,
    commitment,
    open_entry,
    redact,
)
from badgechain.chain.nodelog import (
    MAX_ENTRY_BYTES,
    MAX_SEQ,
    PRIVATE_ACTIONS,
    SEALED,
    LogError,
    canonical_bytes,
    entry_hash,
    make_entry,
    make_head,
)
from badgechain.storage import Batch, Kind, Store

from .errors import NodeError

__all__ = [
    "DEFAULT_PAGE",
    "ENTRY_PREFIX",
    "HEAD_KEY",
    "LOG_OPENING_MISSING",
    "LOG_STORAGE_DAMAGED",
    "MAX_PAGE",
    "OPENING_PREFIX",
    "LogPage",
    "NodeLog",
    "entry_key",
    "iter_entries",
    "public_entry",
    "read_head",
    "read_opening",
    "read_page",
]

log = logging.getLogger(__name__)

ENTRY_PREFIX: Final = b"e"
HEAD_KEY: Final = b"h"
OPENING_PREFIX: Final = b"o"
LOG_OPENING_MISSING: Final = "log_opening_missing"
DEFAULT_PAGE: Final = 100
MAX_PAGE: Final = 1000
LOG_STORAGE_DAMAGED: Final = "log_storage_damaged"
_MAX_STORED_BYTES: Final = 2 * MAX_ENTRY_BYTES  # what a stored value may be and still be read


def entry_key(seq: int) -> bytes:
    return ENTRY_PREFIX + seq.to_bytes(8, "big")


def opening_key(seq: int) -> bytes:
    return OPENING_PREFIX + seq.to_bytes(8, "big")


def public_entry(entry: Any) -> Any:
    """What the public may see of a stored entry: an unsealed private one (written before
    sealing) becomes {seq, redacted: hash}, or null when it is too damaged to hash (its
    content never leaks); anything else, malformed values too, as is."""
    action = entry.get("action") if isinstance(entry, dict) else None
    if isinstance(action, str) and action in PRIVATE_ACTIONS:
        digest = _hash_or_none(entry)
        seq = entry.get("seq")
        if digest is None or not isinstance(seq, int) or isinstance(seq, bool):
            return None
        return redact(entry)
    return entry


def read_opening(store: Store, seq: int) -> dict[str, Any]:
    """What entry `seq` says, for its owner: a sealed entry opened with its stored opening
    (checked against the commitment), or an unsealed entry's own action, subject, details.
    Raises LogError: 404 `log_entry_not_found`, `log_opening_missing`, `log_opening_invalid`."""
    if not 0 <= seq <= MAX_SEQ:
        raise _not_found(seq)
    entry = _decode(store.get(Kind.LOG, entry_key(seq)))
    if not isinstance(entry, dict) or entry.get("seq") != seq:
        raise _not_found(seq)
    if entry.get("action") != SEALED:
        content = {name: entry.get(name) for name in ("action", "subject", "details")}
        return {"seq": seq, "at": entry.get("at"), "sealed": False, **content}
    opening = _decode(store.get(Kind.LOG, opening_key(seq)))
    if opening is None:
        raise LogError(f"this node keeps no opening for entry {seq}", code=LOG_OPENING_MISSING)
    content = open_entry(entry, opening)
    salt = opening["salt"]
    return {"seq": seq, "at": entry.get("at"), "sealed": True, "salt": salt, **content}


class NodeLogError(NodeError, LogError):
    """A log this node cannot answer from: a LogError (callers catch it as one) whose
    status is in node/errors.py (log_entry_not_found 404, log_storage_damaged 500)."""

    code = "log_entry_invalid"  # 422, as a chain LogError


def _not_found(seq: int) -> LogError:
    return NodeLogError(f"the log has no entry {seq}", code="log_entry_not_found")


def _decode(raw: bytes | None) -> Any:
    """A stored entry or head as JSON; None when it is missing or not JSON, which the
    verifier reports as a malformed entry (never hide a damaged value, never crash on it)."""
    if raw is None or len(raw) > _MAX_STORED_BYTES:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: a value nested on purpose
        return None


def _stored_seq(head: Any) -> int | None:
    seq = head.get("seq") if isinstance(head, dict) else None
    if isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq <= MAX_SEQ:
        return seq
    return None


def _hash_or_none(entry: dict[str, Any]) -> str | None:
    try:
        return entry_hash(entry)
    except LogError:
        return None


@dataclass(frozen=True, slots=True)
class LogPage:
    """Entries after a seq, the signed head read with them, and where the next page starts."""

    entries: list[Any]
    head: Any
    next: int | None

    def to_json(self) -> dict[str, Any]:
        return {"entries": self.entries, "head": self.head, "next": self.next}


def read_head(store: Store) -> Any:
    """The stored signed head (a dict), or None for an empty log."""
    return _decode(store.get(Kind.LOG, HEAD_KEY))


def read_page(store: Store, after: int | None, limit: int) -> LogPage:
    """Up to `limit` stored entries with seq > `after` (None: from the start), in key order,
    and the head as stored at the same moment (one synchronous read, no await between)."""
    limit = max(1, min(limit, MAX_PAGE))
    if after is not None and after >= MAX_SEQ:
        return LogPage([], read_head(store), None)
    start = None if after is None or after < 0 else entry_key(after)
    rows = list(store.scan(Kind.LOG, ENTRY_PREFIX, start_after=start, limit=limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    entries = [_decode(value) for _, value in rows]
    last_seq = int.from_bytes(rows[-1][0][len(ENTRY_PREFIX) :], "big") if rows else None
    return LogPage(entries, read_head(store), last_seq if more else None)


def iter_entries(store: Store) -> Iterator[Any]:
    """Every stored entry in key order, read a page at a time."""
    after: int | None = None
    while True:
        page = read_page(store, after, MAX_PAGE)
        yield from page.entries
        if page.next is None:
            return
        after = page.next


class NodeLog:
    """The log of one node: `append` inside a batch; `page`, `head`, `read_all` to read."""

    def __init__(self, store: Store, key: KeyPair, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.key = key
        self.clock = clock
        self._pending: tuple[Batch, dict[str, Any]] | None = None
        head = self.head()
        if isinstance(head, dict) and head.get("signer") != key.did:
            log.warning(
                "the stored log was signed by another key", extra={"signer": head.get("signer")}
            )

    def append(
        self,
        batch: Batch,
        action: str,
        subject: str,
        details: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add an entry (and the new head) to `batch`; they land when the batch commits.

        Raises LogError for a bad action, subject or details, and `log_storage_damaged`
        when the stored head does not name a stored entry (the log cannot go on safely).
        """
        pending = self._pending
        prev = pending[1] if pending is not None and pending[0] is batch else self._stored_last()
        opening = None
        if action in PRIVATE_ACTIONS:  # the public sees a commitment; the owner keeps the rest
            opening, action, subject, details = _seal(prev, action, subject, details)
        entry = make_entry(self.key, prev, action, subject, details, self.clock())
        if opening is not None:
            batch.put(Kind.LOG, opening_key(entry["seq"]), canonical_bytes(opening))
        batch.put(Kind.LOG, entry_key(entry["seq"]), canonical_bytes(entry))
        batch.put(Kind.LOG, HEAD_KEY, canonical_bytes(make_head(self.key, entry)))
        self._pending = (batch, entry)
        return entry

    def head(self) -> Any:
        """The stored signed head (a dict), or None for an empty log."""
        return read_head(self.store)

    def page(self, after: int | None, limit: int) -> LogPage:
        return read_page(self.store, after, limit)

    def public_page(self, after: int | None, limit: int) -> LogPage:
        """A page as the public sees it (GET /log): legacy private entries redacted."""
        page = read_page(self.store, after, limit)
        return LogPage([public_entry(entry) for entry in page.entries], page.head, page.next)

    def opening(self, seq: int) -> dict[str, Any]:
        """Entry `seq` opened for the owner (read_opening)."""
        return read_opening(self.store, seq)

    def recent(self, count: int) -> list[Any]:
        """The last `count` entries (bounded by MAX_PAGE), newest first."""
        seq = _stored_seq(self.head())
        if seq is None:
            return []
        count = max(1, min(count, MAX_PAGE))
        return list(reversed(self.public_page(seq - count, count).entries))

    def entries(self) -> Iterator[Any]:
        return iter_entries(self.store)

    def read_all(self) -> list[Any]:
        return list(self.entries())

    def _stored_last(self) -> dict[str, Any] | None:
        head = self.head()
        if head is None:
            return None
        seq = _stored_seq(head)
        entry = None if seq is None else _decode(self.store.get(Kind.LOG, entry_key(seq)))
        if not isinstance(entry, dict) or _hash_or_none(entry) != head.get("hash"):
            raise NodeLogError(  # 500: the node's storage, not the request, is at fault
                "the stored log head does not name a stored entry; run `badgechain log verify`",
                code=LOG_STORAGE_DAMAGED,
            )
        return entry


def _seal(
    prev: Mapping[str, Any] | None, action: str, subject: str, details: Mapping[str, Any] | None
) -> tuple[dict[str, Any], str, str, dict[str, Any]]:
    """A private action's opening, and the sealed action, subject and details to log."""
    content = dict(details or {})
    check_content(action, subject, content)  # our own misuse raises, as make_entry would
    salt = secrets.token_bytes(SALT_BYTES)
    opening = {
        "seq": 0 if prev is None else int(prev["seq"]) + 1,
        "action": action,
        "subject": subject,
        "details": content,
        "salt": salt.hex(),
    }
    return opening, SEALED, commitment(action, subject, content, salt), {}
