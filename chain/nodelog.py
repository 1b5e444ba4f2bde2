"""The node's signed, hash-linked log (DESIGN.md "Node log"): walking a log and its signed
head to a verdict, one entry at a time. Pure: no I/O, no clock. The entries themselves
(canonical bytes, building, shape checks) are chain.logentry's; they are re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .keys import public_key_from_did_key
from .logentry import (
    ACTIONS,
    ENTRY_DOMAIN,
    ENTRY_FIELDS,
    GENESIS_PREV,
    HEAD_DOMAIN,
    HEAD_FIELDS,
    HEX_HASH,
    LOG_CHECKPOINT_MISMATCH,
    LOG_ENTRY_INVALID,
    LOG_ENTRY_MISSING,
    LOG_HEAD_INVALID,
    LOG_LINK_BROKEN,
    LOG_REORDERED,
    LOG_SIGNATURE_INVALID,
    LOG_SIGNER_MISMATCH,
    LOG_TOO_LONG,
    LOG_TRUNCATED,
    MAX_DETAILS_BYTES,
    MAX_ENTRY_BYTES,
    MAX_LOG_ENTRIES,
    MAX_SEQ,
    MAX_SUBJECT_CHARS,
    PRIVATE_ACTIONS,
    SEALED,
    LogError,
    canonical_bytes,
    check_entry,
    check_head,
    check_redacted,
    entry_hash,
    format_time,
    is_redacted,
    make_entry,
    make_head,
    signature_holds,
)

__all__ = [
    "ACTIONS",
    "ENTRY_FIELDS",
    "GENESIS_PREV",
    "HEAD_FIELDS",
    "LOG_CHECKPOINT_MISMATCH",
    "LOG_ENTRY_INVALID",
    "LOG_ENTRY_MISSING",
    "LOG_HEAD_INVALID",
    "LOG_LINK_BROKEN",
    "LOG_REORDERED",
    "LOG_SIGNATURE_INVALID",
    "LOG_SIGNER_MISMATCH",
    "LOG_TOO_LONG",
    "LOG_TRUNCATED",
    "MAX_DETAILS_BYTES",
    "MAX_ENTRY_BYTES",
    "MAX_LOG_ENTRIES",
    "MAX_SEQ",
    "MAX_SUBJECT_CHARS",
    "PRIVATE_ACTIONS",
    "SEALED",
    "Checkpoint",
    "LogError",
    "LogVerdict",
    "LogVerifier",
    "canonical_bytes",
    "check_entry",
    "check_head",
    "entry_hash",
    "format_time",
    "make_entry",
    "make_head",
    "parse_checkpoint",
    "verify_log",
]

_SEQ_TEXT = re.compile(r"[0-9]{1,16}")  # ASCII digits: str.isdigit() takes "²" too


# -- checkpoints ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """An entry a crawler saw earlier: its seq and hash must still be in the log."""

    seq: int
    hash: str


def parse_checkpoint(text: str) -> Checkpoint:
    """`SEQ:HASH` → Checkpoint, else LogError."""
    seq_text, _, digest = text.strip().partition(":")
    if not _SEQ_TEXT.fullmatch(seq_text) or not HEX_HASH.fullmatch(digest):
        raise LogError("a checkpoint is SEQ:HASH (a number, 64 lowercase hex digits)")
    return Checkpoint(int(seq_text), digest)


# -- verification --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogVerdict:
    """The result of walking a log: ok, or the first bad entry (`bad_seq`) and why."""

    ok: bool
    count: int  # entries walked before the verdict
    head_seq: int | None = None
    head_hash: str | None = None
    bad_seq: int | None = None  # the position in the log (entry N should have seq N)
    code: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "count": self.count,
            "head": None
            if self.head_seq is None
            else {"seq": self.head_seq, "hash": self.head_hash},
            "bad_entry": self.bad_seq,
            "code": self.code,
            "message": self.message,
        }


class _Bad(Exception):
    """Internal: the walk stops at position `seq` with `code`."""

    def __init__(self, seq: int | None, code: str, message: str) -> None:
        super().__init__(message)
        self.seq, self.code, self.message = seq, code, message


class LogVerifier:
    """Walks a log one entry at a time (so a crawler need not hold it all): `add` each
    entry in order, then `finish` with the signed head. The first problem wins.

    A gap in seq is `log_entry_missing` unless a missing seq turns up later in the walk,
    which makes it `log_reordered`; only the seq of later entries is read for that.
    """

    def __init__(self, signer_did: str, checkpoint: Checkpoint | None = None) -> None:
        public_key_from_did_key(signer_did)  # raises IdentityError for a bad DID
        self.signer_did = signer_did
        self.checkpoint = checkpoint
        self.count = 0
        self._last: dict[str, Any] | None = None
        self._last_hash = GENESIS_PREV
        self._bad: _Bad | None = None
        self._gap: tuple[int, int] | None = None  # [low, high) seqs missing at the first gap

    def add(self, entry: object) -> None:
        position = self.count
        self.count += 1
        if self.count > MAX_LOG_ENTRIES and self._bad is None:
            self._bad = _Bad(position, LOG_TOO_LONG, f"over {MAX_LOG_ENTRIES} entries")
        if self._bad is not None:
            self._classify_gap(entry)
            return
        try:
            self._check(position, entry)
        except _Bad as bad:
            self._bad = bad

    def finish(self, head: object) -> LogVerdict:
        if self._bad is None:
            try:
                self._check_end(head)
            except _Bad as bad:
                self._bad = bad
        if self._bad is not None:
            return LogVerdict(
                False,
                self.count,
                bad_seq=self._bad.seq,
                code=self._bad.code,
                message=self._bad.message,
            )
        last = self._last
        return LogVerdict(
            True,
            self.count,
            head_seq=None if last is None else last["seq"],
            head_hash=None if last is None else self._last_hash,
        )

    def _check(self, position: int, entry: object) -> None:
        if is_redacted(entry):
            return self._check_redacted(position, entry)
        try:
            good = check_entry(entry)
        except LogError as exc:
            raise _Bad(position, LOG_ENTRY_INVALID, exc.message) from exc
        if good["signer"] != self.signer_did:
            raise _Bad(
                position, LOG_SIGNER_MISMATCH, f"signed by {good['signer']:.80}, not the node"
            )
        if not signature_holds(ENTRY_DOMAIN, good, self.signer_did):
            raise _Bad(position, LOG_SIGNATURE_INVALID, "the entry does not match its signature")
        seq = good["seq"]
        self._check_seq(position, seq)
        if good["prev"] != self._last_hash:
            raise _Bad(position, LOG_LINK_BROKEN, f"prev is not the hash of entry {position - 1}")
        self._accept(good, entry_hash(good))
        return None

    def _check_redacted(self, position: int, entry: object) -> None:
        """A stub {seq, redacted} stands for an entry kept private: its signature and prev
        cannot be checked, but the hash it claims must be the next entry's `prev` (or the
        signed head's), so a stub cannot hide a deletion, a move or an edit."""
        try:
            stub = check_redacted(entry)
        except LogError as exc:
            raise _Bad(position, LOG_ENTRY_INVALID, exc.message) from exc
        self._check_seq(position, stub["seq"])
        self._accept(stub, stub["redacted"])

    def _check_seq(self, position: int, seq: int) -> None:
        if seq < position:
            raise _Bad(position, LOG_REORDERED, f"entry {seq} comes again where {position} belongs")
        if seq > position:
            self._gap = (position, seq)
            raise _Bad(position, LOG_ENTRY_MISSING, f"entry {position} is missing (next is {seq})")

    def _accept(self, good: dict[str, Any], digest: str) -> None:
        seq = good["seq"]
        self._last, self._last_hash = good, digest
        checkpoint = self.checkpoint
        if checkpoint is not None and checkpoint.seq == seq and checkpoint.hash != self._last_hash:
            raise _Bad(seq, LOG_CHECKPOINT_MISMATCH, "the entry differs from the checkpoint")

    def _classify_gap(self, entry: object) -> None:
        """After a gap, a missing seq seen later means the entries were moved, not lost."""
        bad, gap = self._bad, self._gap
        if bad is None or gap is None or bad.code != LOG_ENTRY_MISSING:
            return
        seq = entry.get("seq") if isinstance(entry, dict) else None
        if isinstance(seq, int) and gap[0] <= seq < gap[1]:
            self._bad = _Bad(bad.seq, LOG_REORDERED, f"entry {seq} comes later than it belongs")

    def _check_end(self, head: object) -> None:
        """The signed head must name the last entry; a checkpoint past the end is a cut."""
        end = self.count  # the position after the last entry
        if head is None:
            if self._last is not None:
                raise _Bad(end - 1, LOG_HEAD_INVALID, "the log has entries but no signed head")
            return self._check_checkpoint_reached()
        try:
            good = check_head(head)
        except LogError as exc:
            raise _Bad(None, LOG_HEAD_INVALID, exc.message) from exc
        if good["signer"] != self.signer_did:
            raise _Bad(None, LOG_HEAD_INVALID, "the head is signed by another key")
        if not signature_holds(HEAD_DOMAIN, good, self.signer_did):
            raise _Bad(None, LOG_HEAD_INVALID, "the head does not match its signature")
        if good["seq"] >= end:
            raise _Bad(
                end,
                LOG_TRUNCATED,
                f"the log ends at {end} entries; the head says {good['seq'] + 1}",
            )
        if good["seq"] < end - 1:
            raise _Bad(
                good["seq"] + 1,
                LOG_HEAD_INVALID,
                f"entries go past the signed head ({good['seq']})",
            )
        if good["hash"] != self._last_hash:
            raise _Bad(end - 1, LOG_LINK_BROKEN, "the signed head names another last entry")
        self._check_checkpoint_reached()
        return None

    def _check_checkpoint_reached(self) -> None:
        checkpoint = self.checkpoint
        if checkpoint is not None and checkpoint.seq >= self.count:
            raise _Bad(
                self.count, LOG_TRUNCATED, f"the log ends before checkpoint {checkpoint.seq}"
            )


def verify_log(
    entries: Iterable[object],
    *,
    signer_did: str,
    head: object = None,
    checkpoint: Checkpoint | None = None,
) -> LogVerdict:
    """Walk a whole log (from seq 0) and its signed head; name the first bad entry."""
    verifier = LogVerifier(signer_did, checkpoint)
    for entry in entries:
        verifier.add(entry)
    return verifier.finish(head)
