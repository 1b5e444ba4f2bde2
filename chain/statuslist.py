"""W3C Bitstring Status List v1.0: status entries, list credentials, and checking a bit.

Pure: the caller fetches the list credential and passes `now` and a proof verifier.
Bit i is bit (7 - i % 8) of byte i // 8 (index 0 is the first byte's most significant
bit); `encodedList` is multibase base64url ("u", no padding) of the GZIP-compressed bits.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from .badge import issuer_id
from .errors import BadgeChainError
from .proof import format_created, proof_list, verify_proof
from .resolve import DidDocumentResolver, Unreachable, resolve_verification_method

__all__ = [
    "LIST_CREDENTIAL_TYPE",
    "MAX_DECODED_BYTES",
    "MAX_ENCODED_CHARS",
    "MIN_LIST_BITS",
    "STATUS_LIST_FETCHER",
    "CheckedList",
    "ListProofVerifier",
    "StatusListError",
    "StatusListFetcher",
    "build_list_credential",
    "check_list_credential",
    "check_status",
    "decode_bits",
    "empty_bits",
    "encode_bits",
    "entry_index",
    "get_bit",
    "list_proof_verifier",
    "set_bit",
    "status_entry",
]

MIN_LIST_BITS: Final = 131_072  # 16 KiB uncompressed: the spec's floor, for herd privacy
MAX_DECODED_BYTES: Final = 16 * 1024 * 1024  # refuse to inflate more (a gzip bomb)
MAX_ENCODED_CHARS: Final = 4 * 1024 * 1024
ENTRY_TYPE: Final = "BitstringStatusListEntry"
LIST_CREDENTIAL_TYPE: Final = "BitstringStatusListCredential"
LIST_TYPE: Final = "BitstringStatusList"
CLOCK_SKEW: Final = timedelta(minutes=5)
# The key in `Resolvers.extra` under which a verifier finds its StatusListFetcher.
STATUS_LIST_FETCHER: Final = "status_list_fetcher"
_INDEX = re.compile(r"0|[1-9][0-9]{0,11}")
_VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2"

# Verifies one proof of a list credential; returns the controller (DID) of the signing key,
# raises BadgeChainError when it does not verify, Unreachable when the key cannot be read now.
ListProofVerifier = Callable[[dict[str, Any], dict[str, Any]], str]


@dataclass(frozen=True, slots=True)
class CheckedList:
    """A list credential whose proof, URL, length and encoding were checked: what a verifier
    keeps in its cache, so a cached list is not verified again for every badge."""

    url: str
    issuer: str
    purposes: tuple[str, ...]
    bits: bytes
    valid_from: datetime | None
    valid_until: datetime | None


# The list at a URL: the credential as served, or one the resolver checked already (it must
# have come from `check_list_credential`); None when there is none (404); raises Unreachable.
StatusListFetcher = Callable[[str], "dict[str, Any] | CheckedList | None"]


class StatusListError(BadgeChainError):
    """A status list or entry that cannot be trusted or read; `code` says which rule failed."""

    code = "status_list_invalid"
    http_status = 422


# --- the bitstring -------------------------------------------------------------------------


def empty_bits(size: int = MIN_LIST_BITS) -> bytearray:
    if size % 8 or size < MIN_LIST_BITS:
        raise StatusListError(f"a list has a multiple of 8 and at least {MIN_LIST_BITS} bits")
    return bytearray(size // 8)


def get_bit(bits: bytes | bytearray, index: int) -> bool:
    if not 0 <= index < len(bits) * 8:
        raise StatusListError(f"index {index} is out of range", code="status_index_invalid")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def set_bit(bits: bytearray, index: int, value: bool = True) -> None:
    if not 0 <= index < len(bits) * 8:
        raise StatusListError(f"index {index} is out of range", code="status_index_invalid")
    mask = 0x80 >> (index % 8)
    bits[index // 8] = bits[index // 8] | mask if value else bits[index // 8] & ~mask


def encode_bits(bits: bytes | bytearray) -> str:
    """`encodedList`: "u" + base64url, no padding, of GZIP(bits). mtime 0 keeps it stable."""
    packed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")


def decode_bits(encoded: object, *, max_bytes: int = MAX_DECODED_BYTES) -> bytes:
    """The bits of an `encodedList`, inflating at most `max_bytes` (a bomb is refused)."""
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise StatusListError("encodedList is not multibase base64url text")
    if len(encoded) > MAX_ENCODED_CHARS:
        raise StatusListError(f"encodedList is over {MAX_ENCODED_CHARS} characters")
    text = encoded[1:]
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise StatusListError("encodedList is not base64url") from exc
    return _gunzip_bounded(packed, max_bytes)


def _gunzip_bounded(packed: bytes, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # a gzip member
    try:
        bits = inflater.decompress(packed, max_bytes)
        if inflater.unconsumed_tail:
            raise StatusListError(
                f"encodedList inflates to over {max_bytes} bytes", code="status_list_too_large"
            )
        bits += inflater.flush()
    except zlib.error as exc:
        raise StatusListError("encodedList is not GZIP data") from exc
    if not inflater.eof or len(bits) > max_bytes:
        raise StatusListError("encodedList is truncated or oversized GZIP data")
    return bits


# --- documents -----------------------------------------------------------------------------


def status_entry(list_url: str, index: int, purpose: str = "revocation") -> dict[str, Any]:
    """A BitstringStatusListEntry for bit `index` of the list credential at `list_url`."""
    return {
        "id": f"{list_url}#{index}",
        "type": ENTRY_TYPE,
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": list_url,
    }


def build_list_credential(
    issuer_did: str,
    list_url: str,
    bits: bytes | bytearray,
    purpose: str,
    valid_from: datetime,
    valid_until: datetime,
    ttl_ms: int,
) -> dict[str, Any]:
    """An unsigned VC 2.0 BitstringStatusListCredential (proof.sign_credential secures it)."""
    return {
        "@context": [_VC2_CONTEXT],
        "id": list_url,
        "type": ["VerifiableCredential", LIST_CREDENTIAL_TYPE],
        "issuer": issuer_did,
        "validFrom": format_created(valid_from),
        "validUntil": format_created(valid_until),
        "credentialSubject": {
            "id": f"{list_url}#list",
            "type": LIST_TYPE,
            "statusPurpose": purpose,
            "encodedList": encode_bits(bits),
            "ttl": ttl_ms,
        },
    }


def entry_index(entry: dict[str, Any]) -> int:
    """statusListIndex as a number: a base-10 string (also a JSON integer, as some issue)."""
    value = entry.get("statusListIndex")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _INDEX.fullmatch(value):
        return int(value)
    raise StatusListError(
        f"statusListIndex {value!r:.40} is not a decimal index", code="status_index_invalid"
    )


# --- checking ------------------------------------------------------------------------------


def list_proof_verifier(did_documents: DidDocumentResolver | None) -> ListProofVerifier:
    """A ListProofVerifier reading keys as chain.verify does (did:key, did:web, Multikey URL)."""

    def verify(document: dict[str, Any], proof: dict[str, Any]) -> str:
        key = resolve_verification_method(str(proof.get("verificationMethod")), did_documents)
        result = verify_proof(document, proof, key.public_key)
        if not result.ok:
            raise BadgeChainError(result.message, code=result.code)
        return key.controller

    return verify


def check_list_credential(
    list_credential: object,
    *,
    list_url: str,
    now: datetime,
    verify_list_proof: ListProofVerifier,
) -> CheckedList:
    """A list credential that is signed by its issuer, fresh, long enough and served at its
    own URL, read; StatusListError (or Unreachable) otherwise."""
    if not isinstance(list_credential, dict):
        raise StatusListError("the status list is not a JSON object")
    _check_signed(list_credential, verify_list_proof)
    if list_credential.get("id") != list_url:
        # A list of the same issuer replayed at another URL would answer for the wrong badges;
        # one that names no URL could be replayed anywhere.
        raise StatusListError(
            f"the list at {list_url:.100} names itself {list_credential.get('id')!r:.100}",
            code="status_list_url_mismatch",
        )
    checked = CheckedList(
        url=list_url,
        issuer=issuer_id(list_credential),
        purposes=_purposes(_subject(list_credential)),
        bits=decode_bits(_subject(list_credential).get("encodedList")),
        valid_from=_moment(list_credential, "validFrom"),
        valid_until=_moment(list_credential, "validUntil"),
    )
    _check_fresh(checked, now)
    if len(checked.bits) * 8 < MIN_LIST_BITS:
        raise StatusListError(
            f"the list has {len(checked.bits) * 8} bits, fewer than {MIN_LIST_BITS}",
            code="status_list_too_short",
        )
    return checked


def check_status(
    list_credential: object | CheckedList,
    entry: dict[str, Any],
    *,
    credential_issuer: str,
    now: datetime,
    verify_list_proof: ListProofVerifier,
) -> bool:
    """True when the list sets the entry's bit (e.g. revoked), False when it is clear.

    Raises StatusListError (code status_*) when the entry or the list cannot be trusted,
    Unreachable when a key of the list cannot be read now. A CheckedList is only checked
    for freshness again.
    """
    if entry.get("type") != ENTRY_TYPE:
        raise StatusListError(
            f"status entry type {entry.get('type')!r:.60} is not {ENTRY_TYPE}",
            code="status_type_unsupported",
        )
    list_url = entry.get("statusListCredential")
    if not isinstance(list_url, str) or not list_url:
        raise StatusListError("the entry names no statusListCredential")
    index = entry_index(entry)
    if isinstance(list_credential, CheckedList):
        if list_credential.url != list_url:
            raise StatusListError(
                f"the list read is not the one at {list_url:.100}", code="status_list_url_mismatch"
            )
        checked = list_credential
        _check_fresh(checked, now)
    else:
        checked = check_list_credential(
            list_credential, list_url=list_url, now=now, verify_list_proof=verify_list_proof
        )
    if checked.issuer != credential_issuer:
        raise StatusListError(
            "the status list is issued by someone else than the credential",
            code="status_list_wrong_signer",
        )
    purpose = entry.get("statusPurpose")
    if not isinstance(purpose, str) or purpose not in checked.purposes:
        raise StatusListError(
            f"the list is for {list(checked.purposes)!r:.60}, the entry asks about {purpose!r:.40}",
            code="status_list_purpose_mismatch",
        )
    if index >= len(checked.bits) * 8:
        raise StatusListError(
            f"index {index} is beyond the list's {len(checked.bits) * 8} bits",
            code="status_index_invalid",
        )
    return get_bit(checked.bits, index)


def _check_signed(list_credential: dict[str, Any], verify_list_proof: ListProofVerifier) -> None:
    try:
        proofs = proof_list(list_credential)
    except BadgeChainError as exc:
        raise StatusListError(exc.message, code="status_list_signature_invalid") from exc
    if not proofs:
        raise StatusListError("the status list is not signed", code="status_list_unsigned")
    issuer = issuer_id(list_credential)
    for proof in proofs:
        try:
            signer = verify_list_proof(list_credential, proof)
        except Unreachable:
            raise
        except BadgeChainError as exc:
            raise StatusListError(
                f"the status list's proof does not verify ({exc.code})",
                code="status_list_signature_invalid",
            ) from exc
        if signer != issuer:
            raise StatusListError(
                "the status list is signed by a key its issuer does not control",
                code="status_list_wrong_signer",
            )


def _check_fresh(checked: CheckedList, now: datetime) -> None:
    valid_from, valid_until = checked.valid_from, checked.valid_until
    if valid_until is not None and valid_until <= now:
        raise StatusListError(
            f"the status list expired at {valid_until.isoformat()}", code="status_list_stale"
        )
    if valid_from is not None and valid_from > now + CLOCK_SKEW:
        raise StatusListError(
            f"the status list is not valid before {valid_from.isoformat()}",
            code="status_list_stale",
        )


def _purposes(subject: dict[str, Any]) -> tuple[str, ...]:
    listed = subject.get("statusPurpose")
    purposes = listed if isinstance(listed, list) else [listed]
    return tuple(purpose for purpose in purposes if isinstance(purpose, str))


def _subject(list_credential: dict[str, Any]) -> dict[str, Any]:
    subject = list_credential.get("credentialSubject")
    types = list_credential.get("type")
    if LIST_CREDENTIAL_TYPE not in (types if isinstance(types, list) else [types]):
        raise StatusListError(f"the list credential's type lacks {LIST_CREDENTIAL_TYPE}")
    if not isinstance(subject, dict) or subject.get("type") not in (LIST_TYPE, [LIST_TYPE]):
        raise StatusListError(f"the list credential's subject is not a {LIST_TYPE}")
    return subject


def _moment(document: dict[str, Any], name: str) -> datetime | None:
    value = document.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise StatusListError(f"the list's {name} is not a date-time") from exc
    if moment.tzinfo is None:
        raise StatusListError(f"the list's {name} has no time zone")
    return moment.astimezone(UTC)
