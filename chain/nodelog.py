"""The node's signed, hash-linked log (DESIGN.md "Node log"): building and checking entries.

Pure: no I/O, no clock. An entry's canonical bytes are its JSON Canonicalization Scheme
(RFC 8785) form. JCS rather than msgpack because entries travel as JSON (GET /log): any
crawler, in any language, recomputes the signed bytes from the JSON it received, with no
field order or integer width to agree on. Signatures cover a domain tag plus those bytes,
so an entry signature can never pass as a head signature or a badge proof.

  entry = {seq, prev, at, action, subject, details, signer, signature}
  prev  = entry_hash(previous entry), 64 zeros for seq 0
  head  = {seq, hash, signer, signature}: the node's signed word on where its log ends
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import rfc8785

from .errors import BadgeChainError, DecodeError, IdentityError
from .keys import KeyPair, public_key_from_did_key, verify_signature
from .multibase import multibase_decode, multibase_encode_b58

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
    "MAX_SUBJECT_CHARS",
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

ACTIONS: Final = frozenset(
    {
        "issue",
        "revoke",
        "accept",
        "reject",
        "move",
        "hide",
        "persona",
        "endorse",
        "collection",
        "status-list",
    }
)
ENTRY_FIELDS: Final = frozenset(
    {"seq", "prev", "at", "action", "subject", "details", "signer", "signature"}
)
HEAD_FIELDS: Final = frozenset({"seq", "hash", "signer", "signature"})
GENESIS_PREV: Final = "0" * 64
MAX_SUBJECT_CHARS: Final = 256
MAX_DETAILS_BYTES: Final = 2048  # canonical JSON of `details`
MAX_DETAILS_DEPTH: Final = 4
MAX_ENTRY_BYTES: Final = 4096  # canonical JSON of a whole entry
MAX_LOG_ENTRIES: Final = 10_000_000  # what one verification walks before it gives up
MAX_SEQ: Final = 2**53 - 1  # JSON numbers stay exact in every language up to here

_ENTRY_DOMAIN: Final = b"badgechain/log-entry/v1\x00"
_HEAD_DOMAIN: Final = b"badgechain/log-head/v1\x00"
_HEX_HASH = re.compile(r"[0-9a-f]{64}")
_SEQ_TEXT = re.compile(r"[0-9]{1,16}")  # ASCII digits: str.isdigit() takes "²" too
_RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Verdict codes, stable for programs (docs/log.md).
LOG_ENTRY_INVALID: Final = "log_entry_invalid"  # malformed: fields, types, sizes
LOG_SIGNATURE_INVALID: Final = "log_signature_invalid"  # content no longer matches the signature
LOG_SIGNER_MISMATCH: Final = "log_signer_mismatch"  # signed by a key other than the node's
LOG_ENTRY_MISSING: Final = "log_entry_missing"  # a gap in seq
LOG_REORDERED: Final = "log_reordered"  # seq goes backwards, repeats, or comes early
LOG_LINK_BROKEN: Final = "log_link_broken"  # prev is not the hash of the entry before
LOG_TRUNCATED: Final = "log_truncated"  # the log ends before its signed head (or checkpoint)
LOG_HEAD_INVALID: Final = "log_head_invalid"  # the head is malformed, unsigned, or disagrees
LOG_CHECKPOINT_MISMATCH: Final = "log_checkpoint_mismatch"  # history differs from a crawl
LOG_TOO_LONG: Final = "log_too_long"  # over MAX_LOG_ENTRIES


class LogError(BadgeChainError):
    """An entry or head cannot be built or read; `code` says which check failed."""

    code = LOG_ENTRY_INVALID
    http_status = 422


# -- canonical form and hashing ------------------------------------------------------------


def canonical_bytes(value: Mapping[str, Any]) -> bytes:
    """The RFC 8785 (JCS) bytes of a JSON object."""
    try:
        return bytes(rfc8785.dumps(dict(value)))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise LogError(f"not canonical JSON: {exc}") from exc


def entry_hash(entry: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the entry's canonical bytes, signature included: what `prev` holds."""
    return hashlib.sha256(canonical_bytes(entry)).hexdigest()


def _signing_input(domain: bytes, record: Mapping[str, Any]) -> bytes:
    unsigned = {name: value for name, value in record.items() if name != "signature"}
    return domain + canonical_bytes(unsigned)


# -- building ------------------------------------------------------------------------------


def format_time(at: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, to the second."""
    if at.tzinfo is None:
        raise LogError("a log time must carry a time zone")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_entry(
    key: KeyPair,
    prev_entry: Mapping[str, Any] | None,
    action: str,
    subject: str,
    details: Mapping[str, Any] | None,
    at: datetime,
) -> dict[str, Any]:
    """The entry after `prev_entry` (None: the first), signed by `key`. Raises LogError."""
    entry: dict[str, Any] = {
        "seq": 0 if prev_entry is None else int(prev_entry["seq"]) + 1,
        "prev": GENESIS_PREV if prev_entry is None else entry_hash(prev_entry),
        "at": format_time(at),
        "action": action,
        "subject": subject,
        "details": dict(details or {}),
        "signer": key.did,
    }
    entry["signature"] = multibase_encode_b58(key.sign(_signing_input(_ENTRY_DOMAIN, entry)))
    check_entry(entry)  # our own misuse (a bad action, an oversize detail) raises here
    return entry


def make_head(key: KeyPair, last_entry: Mapping[str, Any]) -> dict[str, Any]:
    """The signed head naming `last_entry` as the end of the log."""
    head: dict[str, Any] = {
        "seq": last_entry["seq"],
        "hash": entry_hash(last_entry),
        "signer": key.did,
    }
    head["signature"] = multibase_encode_b58(key.sign(_signing_input(_HEAD_DOMAIN, head)))
    return head


# -- shape checks --------------------------------------------------------------------------


def check_entry(entry: object) -> dict[str, Any]:
    """`entry` if it is a well-formed entry (signature not checked), else LogError."""
    if not isinstance(entry, dict) or set(entry) != ENTRY_FIELDS:
        raise LogError(f"an entry has exactly the fields {sorted(ENTRY_FIELDS)}")
    _check_seq(entry["seq"])
    if not isinstance(entry["prev"], str) or not _HEX_HASH.fullmatch(entry["prev"]):
        raise LogError("prev must be 64 lowercase hex digits")
    _check_time(entry["at"])
    if entry["action"] not in ACTIONS:
        raise LogError(f"action {entry['action']!r:.40} is not one of {sorted(ACTIONS)}")
    subject = entry["subject"]
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_CHARS:
        raise LogError(f"subject must be a string of 1 to {MAX_SUBJECT_CHARS} characters")
    if _CONTROL.search(subject):
        raise LogError("subject must hold no control characters")
    _check_details(entry["details"])
    _check_did(entry["signer"], "signer")
    _check_signature(entry["signature"])
    if len(canonical_bytes(entry)) > MAX_ENTRY_BYTES:
        raise LogError(f"an entry is at most {MAX_ENTRY_BYTES} bytes")
    return entry


def check_head(head: object) -> dict[str, Any]:
    """`head` if it is a well-formed head (signature not checked), else LogError."""
    if not isinstance(head, dict) or set(head) != HEAD_FIELDS:
        raise LogError(
            f"a head has exactly the fields {sorted(HEAD_FIELDS)}", code=LOG_HEAD_INVALID
        )
    try:
        _check_seq(head["seq"])
        if not isinstance(head["hash"], str) or not _HEX_HASH.fullmatch(head["hash"]):
            raise LogError("hash must be 64 lowercase hex digits")
        _check_did(head["signer"], "signer")
        _check_signature(head["signature"])
    except LogError as exc:
        raise LogError(f"head: {exc.message}", code=LOG_HEAD_INVALID) from exc
    return head


def _check_seq(seq: object) -> None:
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
        raise LogError(f"seq must be an integer from 0 to {MAX_SEQ}")


def _check_time(at: object) -> None:
    if not isinstance(at, str) or not _RFC3339_UTC.fullmatch(at):
        raise LogError("at must be an RFC 3339 time in UTC (…Z)")
    try:
        datetime.fromisoformat(at)
    except ValueError as exc:
        raise LogError(f"at is not a real time: {at}") from exc


def _check_details(details: object) -> None:
    if not isinstance(details, dict):
        raise LogError("details must be a JSON object")
    _check_json_value(details, depth=0)
    if len(canonical_bytes(details)) > MAX_DETAILS_BYTES:
        raise LogError(f"details are at most {MAX_DETAILS_BYTES} bytes")


def _check_json_value(value: object, depth: int) -> None:
    """Strings, safe integers, booleans, null, lists and objects: no floats (JCS number
    forms are where implementations disagree), nothing deeper than MAX_DETAILS_DEPTH."""
    if depth > MAX_DETAILS_DEPTH:
        raise LogError(f"details nest at most {MAX_DETAILS_DEPTH} levels")
    if isinstance(value, dict):
        for name, item in value.items():
            if not isinstance(name, str):
                raise LogError("details keys must be strings")
            _check_json_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json_value(item, depth + 1)
    elif isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_SEQ:
            raise LogError("details integers must be within ±2^53")
    elif value is not None and not isinstance(value, str | bool):
        raise LogError(f"details cannot hold a {type(value).__name__}")


def _check_did(did: object, name: str) -> None:
    if not isinstance(did, str):
        raise LogError(f"{name} must be a did:key")
    try:
        public_key_from_did_key(did)
    except IdentityError as exc:
        raise LogError(f"{name} must be a did:key: {exc.message}") from exc


def _check_signature(signature: object) -> None:
    if not isinstance(signature, str) or not signature.startswith("z") or len(signature) > 100:
        raise LogError("signature must be a base58btc multibase string")
    try:
        raw = multibase_decode(signature)
    except DecodeError as exc:
        raise LogError(f"signature: {exc.message}") from exc
    if len(raw) != 64:
        raise LogError("signature must be 64 bytes")


def _signature_holds(domain: bytes, record: Mapping[str, Any], did: str) -> bool:
    key = public_key_from_did_key(did)
    return verify_signature(
        key, _signing_input(domain, record), multibase_decode(record["signature"])
    )


# -- checkpoints ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """An entry a crawler saw earlier: its seq and hash must still be in the log."""

    seq: int
    hash: str


def parse_checkpoint(text: str) -> Checkpoint:
    """`SEQ:HASH` → Checkpoint, else LogError."""
    seq_text, _, digest = text.strip().partition(":")
    if not _SEQ_TEXT.fullmatch(seq_text) or not _HEX_HASH.fullmatch(digest):
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
        try:
            good = check_entry(entry)
        except LogError as exc:
            raise _Bad(position, LOG_ENTRY_INVALID, exc.message) from exc
        if good["signer"] != self.signer_did:
            raise _Bad(
                position, LOG_SIGNER_MISMATCH, f"signed by {good['signer']:.80}, not the node"
            )
        if not _signature_holds(_ENTRY_DOMAIN, good, self.signer_did):
            raise _Bad(position, LOG_SIGNATURE_INVALID, "the entry does not match its signature")
        seq = good["seq"]
        if seq < position:
            raise _Bad(position, LOG_REORDERED, f"entry {seq} comes again where {position} belongs")
        if seq > position:
            self._gap = (position, seq)
            raise _Bad(position, LOG_ENTRY_MISSING, f"entry {position} is missing (next is {seq})")
        if good["prev"] != self._last_hash:
            raise _Bad(position, LOG_LINK_BROKEN, f"prev is not the hash of entry {position - 1}")
        self._last, self._last_hash = good, entry_hash(good)
        checkpoint = self.checkpoint
        if checkpoint is not None and checkpoint.seq == seq and checkpoint.hash != self._last_hash:
            raise _Bad(position, LOG_CHECKPOINT_MISMATCH, "the entry differs from the checkpoint")

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
        if not _signature_holds(_HEAD_DOMAIN, good, self.signer_did):
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
