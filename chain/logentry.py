"""The entries and heads of a node's log (DESIGN.md "Node log"): canonical bytes, building,
and shape checks. chain.nodelog walks a whole log with them.

Pure: no I/O, no clock. An entry's canonical bytes are its JSON Canonicalization Scheme
(RFC 8785) form. JCS rather than msgpack because entries travel as JSON (GET /log): any
crawler, in any language, recomputes the signed bytes from the JSON it received, with no
field order or integer width to agree on. Signatures cover a domain tag plus those bytes,
so an entry signature can never pass as a head signature or a badge proof.

  entry = {seq, prev, at, action, subject, details, signer, signature}
  prev  = entry_hash(previous entry), 64 zeros for seq 0
  head  = {seq, hash, signer, signature}: the node's signed word on where its log ends

Private actions (PRIVATE_ACTIONS: what the earner has not made public) are chained as
`sealed` entries whose subject is a salted commitment to {action, subject, details}; the
owner keeps the salt and the content (an *opening*) and can show that an entry says what
it says. A log served to the public replaces an unsealed private entry written before
sealing existed by a stub {seq, redacted: entry hash}: the next entry's `prev` (or the
signed head) still vouches for that hash, so a deleted or reordered entry is still seen.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import rfc8785

from .errors import BadgeChainError, DecodeError, IdentityError
from .keys import KeyPair, public_key_from_did_key, verify_signature
from .multibase import multibase_decode, multibase_encode_b58

__all__ = [
    "ACTIONS",
    "ENTRY_DOMAIN",
    "ENTRY_FIELDS",
    "GENESIS_PREV",
    "HEAD_DOMAIN",
    "HEAD_FIELDS",
    "HEX_HASH",
    "LOG_CHECKPOINT_MISMATCH",
    "LOG_ENTRY_INVALID",
    "LOG_ENTRY_MISSING",
    "LOG_HEAD_INVALID",
    "LOG_LINK_BROKEN",
    "LOG_OPENING_INVALID",
    "LOG_REORDERED",
    "LOG_SIGNATURE_INVALID",
    "LOG_SIGNER_MISMATCH",
    "LOG_TOO_LONG",
    "LOG_TRUNCATED",
    "MAX_DETAILS_BYTES",
    "MAX_DETAILS_DEPTH",
    "MAX_ENTRY_BYTES",
    "MAX_LOG_ENTRIES",
    "MAX_SEQ",
    "MAX_SUBJECT_CHARS",
    "PRIVATE_ACTIONS",
    "REDACTED_FIELDS",
    "SALT_BYTES",
    "SEALED",
    "LogError",
    "canonical_bytes",
    "check_content",
    "check_entry",
    "check_head",
    "check_opening",
    "check_redacted",
    "commitment",
    "entry_hash",
    "format_time",
    "is_redacted",
    "make_entry",
    "make_head",
    "open_entry",
    "redact",
    "signature_holds",
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
        "sealed",
    }
)
SEALED: Final = "sealed"
# What the earner keeps to themself: a collection (its id is its unguessable link), a
# persona (its name), and hiding or refusing a badge. Logged only as commitments.
PRIVATE_ACTIONS: Final = frozenset({"collection", "persona", "hide", "reject"})
REDACTED_FIELDS: Final = frozenset({"seq", "redacted"})
OPENING_FIELDS: Final = frozenset({"seq", "action", "subject", "details", "salt"})
SALT_BYTES: Final = 32
COMMIT_DOMAIN: Final = b"badgechain/log-commitment/v1\x00"
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

ENTRY_DOMAIN: Final = b"badgechain/log-entry/v1\x00"
HEAD_DOMAIN: Final = b"badgechain/log-head/v1\x00"
HEX_HASH = re.compile(r"[0-9a-f]{64}")
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
LOG_OPENING_INVALID: Final = "log_opening_invalid"  # an opening that does not fit its entry


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
    entry["signature"] = multibase_encode_b58(key.sign(_signing_input(ENTRY_DOMAIN, entry)))
    check_entry(entry)  # our own misuse (a bad action, an oversize detail) raises here
    return entry


def make_head(key: KeyPair, last_entry: Mapping[str, Any]) -> dict[str, Any]:
    """The signed head naming `last_entry` as the end of the log."""
    head: dict[str, Any] = {
        "seq": last_entry["seq"],
        "hash": entry_hash(last_entry),
        "signer": key.did,
    }
    head["signature"] = multibase_encode_b58(key.sign(_signing_input(HEAD_DOMAIN, head)))
    return head


# -- commitments, openings and redaction --------------------------------------------------


def commitment(action: str, subject: str, details: Mapping[str, Any], salt: bytes) -> str:
    """Hex SHA-256 over a domain tag, the salt and JCS({action, subject, details}): it
    binds the content, and without the 32 random salt bytes no guess can be checked."""
    if len(salt) != SALT_BYTES:
        raise LogError(f"a salt is {SALT_BYTES} bytes")
    content = {"action": action, "subject": subject, "details": dict(details)}
    return hashlib.sha256(COMMIT_DOMAIN + salt + canonical_bytes(content)).hexdigest()


def check_opening(opening: object) -> dict[str, Any]:
    """`opening` if it is {seq, action, subject, details, salt} with a private action."""
    if not isinstance(opening, dict) or set(opening) != OPENING_FIELDS:
        raise LogError(
            f"an opening has exactly the fields {sorted(OPENING_FIELDS)}",
            code=LOG_OPENING_INVALID,
        )
    try:
        _check_seq(opening["seq"])
        if not isinstance(opening["action"], str) or opening["action"] not in PRIVATE_ACTIONS:
            raise LogError(f"only {sorted(PRIVATE_ACTIONS)} are sealed")
        check_content(opening["action"], opening["subject"], opening["details"])
        salt = opening["salt"]
        if not isinstance(salt, str) or not re.fullmatch(r"[0-9a-f]{64}", salt):
            raise LogError("salt must be 64 lowercase hex digits")
    except LogError as exc:
        raise LogError(f"opening: {exc.message}", code=LOG_OPENING_INVALID) from exc
    return opening


def open_entry(entry: Mapping[str, Any], opening: object) -> dict[str, Any]:
    """The private content a sealed `entry` commits to, shown by `opening`; LogError
    (log_opening_invalid) when the opening is malformed or does not match."""
    good = check_opening(opening)
    if entry.get("action") != SEALED or entry.get("seq") != good["seq"]:
        raise LogError(f"entry {entry.get('seq')} is not sealed", code=LOG_OPENING_INVALID)
    salt = bytes.fromhex(good["salt"])
    if commitment(good["action"], good["subject"], good["details"], salt) != entry.get("subject"):
        raise LogError("the opening does not match the commitment", code=LOG_OPENING_INVALID)
    return {name: good[name] for name in ("action", "subject", "details")}


def redact(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The public stand-in of an entry whose content stays private: its seq and hash."""
    return {"seq": entry["seq"], "redacted": entry_hash(entry)}


def is_redacted(value: object) -> bool:
    return isinstance(value, dict) and set(value) == REDACTED_FIELDS


def check_redacted(stub: object) -> dict[str, Any]:
    """`stub` if it is a well-formed {seq, redacted}, else LogError."""
    if not isinstance(stub, dict) or not is_redacted(stub):
        raise LogError(f"a redacted entry has exactly the fields {sorted(REDACTED_FIELDS)}")
    _check_seq(stub["seq"])
    if not isinstance(stub["redacted"], str) or not HEX_HASH.fullmatch(stub["redacted"]):
        raise LogError("redacted must be 64 lowercase hex digits")
    return stub


# -- shape checks --------------------------------------------------------------------------


def check_entry(entry: object) -> dict[str, Any]:
    """`entry` if it is a well-formed entry (signature not checked), else LogError."""
    if not isinstance(entry, dict) or set(entry) != ENTRY_FIELDS:
        raise LogError(f"an entry has exactly the fields {sorted(ENTRY_FIELDS)}")
    _check_seq(entry["seq"])
    if not isinstance(entry["prev"], str) or not HEX_HASH.fullmatch(entry["prev"]):
        raise LogError("prev must be 64 lowercase hex digits")
    _check_time(entry["at"])
    check_content(entry["action"], entry["subject"], entry["details"])
    if entry["action"] == SEALED:
        if not isinstance(entry["subject"], str) or not HEX_HASH.fullmatch(entry["subject"]):
            raise LogError("a sealed entry's subject is its commitment: 64 lowercase hex digits")
        if entry["details"]:
            raise LogError("a sealed entry has empty details")
    _check_did(entry["signer"], "signer")
    _check_signature(entry["signature"])
    if len(canonical_bytes(entry)) > MAX_ENTRY_BYTES:
        raise LogError(f"an entry is at most {MAX_ENTRY_BYTES} bytes")
    return entry


def check_content(action: object, subject: object, details: object) -> None:
    """The action, subject and details of an entry (or of an opening): LogError if bad."""
    if not isinstance(action, str) or action not in ACTIONS:  # a list is unhashable
        raise LogError(f"action {action!r:.40} is not one of {sorted(ACTIONS)}")
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_CHARS:
        raise LogError(f"subject must be a string of 1 to {MAX_SUBJECT_CHARS} characters")
    if _CONTROL.search(subject):
        raise LogError("subject must hold no control characters")
    _check_details(details)


def check_head(head: object) -> dict[str, Any]:
    """`head` if it is a well-formed head (signature not checked), else LogError."""
    if not isinstance(head, dict) or set(head) != HEAD_FIELDS:
        raise LogError(
            f"a head has exactly the fields {sorted(HEAD_FIELDS)}", code=LOG_HEAD_INVALID
        )
    try:
        _check_seq(head["seq"])
        if not isinstance(head["hash"], str) or not HEX_HASH.fullmatch(head["hash"]):
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


def signature_holds(domain: bytes, record: Mapping[str, Any], did: str) -> bool:
    key = public_key_from_did_key(did)
    return verify_signature(
        key, _signing_input(domain, record), multibase_decode(record["signature"])
    )
