"""BNS records (DESIGN.md "BNS protocol"): the signed entry, location and revocation of a UID.
The parts themselves are bns.parts'; here they are made, checked, stored and merged.

Pure: bytes in, records out, no I/O and no clock (times are arguments). Merging is a CRDT.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, NewType, Self, TypeVar

from badgechain.chain.errors import DecodeError
from badgechain.chain.keys import KeyPair, PublicKey, verify_signature
from badgechain.chain.proof import proof_list, proof_value_bytes, signing_input
from badgechain.chain.uid import Uid  # one UID type for every package

from .errors import RecordError
from .parts import (
    DOMAIN_ENTRY,
    DOMAIN_HANDOVER,
    DOMAIN_LOCATION,
    DOMAIN_REVOCATION,
    MAX_NEW_REASON_BYTES,
    MAX_REASON_BYTES,
    MAX_URL_CHARS,
    MAX_URLS,
    MAX_URLS_TOTAL_CHARS,
    Entry,
    Handover,
    Location,
    Revocation,
    valid_url,
)
from .wire import MAX_VALUE_BYTES, WIRE_VERSION, pack, unpack, versioned_fields

__all__ = [
    "DOMAIN_DHT_KEY",
    "DOMAIN_ENTRY",
    "DOMAIN_HANDOVER",
    "DOMAIN_LOCATION",
    "DOMAIN_REVOCATION",
    "DOMAIN_STAMP",
    "MAX_NEW_REASON_BYTES",
    "MAX_REASON_BYTES",
    "MAX_STAMP_DIFFICULTY",
    "MAX_URLS",
    "MAX_URLS_TOTAL_CHARS",
    "MAX_URL_CHARS",
    "MAX_VALUE_BYTES",
    "WIRE_VERSION",
    "DhtKey",
    "Entry",
    "Handover",
    "Location",
    "Record",
    "Revocation",
    "Uid",
    "accept_store",
    "check_location_update",
    "check_stamp",
    "derive_dht_key",
    "entry_from_badge",
    "location_writer",
    "make_entry",
    "make_handover",
    "make_location",
    "make_revocation",
    "merge",
    "mint_stamp",
    "stamp_bits",
    "valid_url",
    "validate_record",
    "verify_entry",
]

DhtKey = NewType("DhtKey", bytes)  # sha256(DOMAIN_DHT_KEY ‖ UID): where the record lives

# Domain tags of the DHT key and stamp hashes (see bns.parts for the signed parts').
DOMAIN_DHT_KEY = b"badgechain/bns/dht-key/v1\x00"
DOMAIN_STAMP = b"badgechain/bns/stamp/v1\x00"
# 32 leading zero bits is ~4e9 hashes: past that a network could not publish at all.
MAX_STAMP_DIFFICULTY = 32


def derive_dht_key(uid: Uid) -> DhtKey:
    """The DHT key of a UID (DESIGN.md "UID": the DHT key is a hash of the UID)."""
    return DhtKey(hashlib.sha256(DOMAIN_DHT_KEY + uid).digest())


_Part = TypeVar("_Part", "Location", "Revocation", "Handover")


@dataclass(frozen=True, slots=True)
class Record:
    """The merged value under H(UID). On the wire the UID is written once, in the entry."""

    entry: Entry
    location: Location | None = None
    revocation: Revocation | None = None
    # The issuer's hand-over of an email-only badge; on the wire only when present, so a
    # record without one keeps its four-field form.
    handover: Handover | None = None

    def __post_init__(self) -> None:
        for part in (self.location, self.revocation, self.handover):
            if part is not None and part.uid != self.entry.uid:
                raise RecordError("a part names another UID than the entry", code="uid_mismatch")

    def to_wire_bytes(self) -> bytes:
        fields = [
            WIRE_VERSION,
            self.entry.to_fields(),
            _without_uid(self.location),
            _without_uid(self.revocation),
        ]
        if self.handover is not None:
            fields.append(_without_uid(self.handover))
        return pack(fields)

    @classmethod
    def from_wire_bytes(cls, data: bytes) -> Self:
        value = unpack(data)
        count = 5 if isinstance(value, list) and len(value) == 5 else 4
        fields = versioned_fields(value, count)
        entry = Entry.from_fields(fields[1])
        location = _with_uid(Location, fields[2], entry.uid)
        revocation = _with_uid(Revocation, fields[3], entry.uid)
        if count == 4:
            return cls(entry, location, revocation)
        handover = _with_uid(Handover, fields[4], entry.uid)
        if handover is None:  # canonical: an absent hand-over is the four-field form
            raise DecodeError("a five-field record must carry a hand-over")
        return cls(entry, location, revocation, handover)


def location_writer(record: Record) -> PublicKey:
    """Who signs the record's locations: the key the issuer handed the badge over to, else
    the entry's earner key, else (an email-only badge not yet claimed) the issuer."""
    return record.entry.location_writer if record.handover is None else record.handover.earner_key


def _without_uid(part: Location | Revocation | Handover | None) -> list[Any] | None:
    return None if part is None else [part.to_fields()[0], *part.to_fields()[2:]]


def _with_uid(kind: type[_Part], value: Any, uid: Uid) -> _Part | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise DecodeError(f"{kind.__name__} must be an array")
    return kind.from_fields([value[0], uid, *value[1:]])


def make_entry(
    issuer: KeyPair,
    uid: Uid,
    signing_input: bytes,
    earner_key: PublicKey | None,
    created: int,
    *,
    difficulty: int = 0,
) -> Entry:
    """The issuer's signed entry; `uid` must be the issuer's signature over `signing_input`.

    `difficulty` is the network's proof-of-work setting: the entry carries a stamp meeting it.
    """
    fields = (
        uid,
        issuer.public_key,
        earner_key,
        signing_input,
        created,
        mint_stamp(uid, difficulty),
    )
    return Entry(*fields, _sign(issuer, Entry(*fields, bytes(64))))


def entry_from_badge(
    badge: dict[str, Any],
    issuer: KeyPair,
    earner_key: PublicKey | None,
    created: int,
    *,
    difficulty: int = 0,
) -> Entry:
    """The entry of a signed badge: its UID is the proofValue of its single issuer proof."""
    proofs = proof_list(badge)
    if len(proofs) != 1:
        raise RecordError("a badge entry needs exactly one proof", code="badge_proof_invalid")
    uid = Uid(proof_value_bytes(proofs[0]))
    return make_entry(
        issuer, uid, signing_input(badge, proofs[0]), earner_key, created, difficulty=difficulty
    )


def stamp_bits(uid: Uid, stamp: int) -> int:
    """Leading zero bits of sha256(DOMAIN_STAMP ‖ UID ‖ stamp as 8 big-endian bytes)."""
    digest = hashlib.sha256(DOMAIN_STAMP + uid + stamp.to_bytes(8, "big")).digest()
    value = int.from_bytes(digest, "big")
    return 256 - value.bit_length()


def mint_stamp(uid: Uid, difficulty: int) -> int:
    """The smallest stamp with at least `difficulty` leading zero bits (0 when none is asked).

    Hashcash: finding one takes about 2**difficulty hashes, checking one takes a single hash,
    so mass-creating entries costs their makers, not the storing nodes.
    """
    if not 0 <= difficulty <= MAX_STAMP_DIFFICULTY:
        raise RecordError(
            f"difficulty must be 0 to {MAX_STAMP_DIFFICULTY}", code="difficulty_invalid"
        )
    stamp = 0
    while difficulty and stamp_bits(uid, stamp) < difficulty:
        stamp += 1
    return stamp


def check_stamp(entry: Entry, difficulty: int) -> None:
    """Raise `stamp_insufficient` unless the entry's stamp meets the network's difficulty."""
    if difficulty > 0 and stamp_bits(entry.uid, entry.stamp) < difficulty:
        raise RecordError(
            f"the entry's proof-of-work stamp is under the network's {difficulty} bits",
            code="stamp_insufficient",
        )


def make_location(writer: KeyPair, uid: Uid, urls: tuple[str, ...], seq: int) -> Location:
    """A location signed by the entry's location writer (its earner key, else its issuer)."""
    return Location(uid, urls, seq, _sign(writer, Location(uid, urls, seq, bytes(64))))


def make_revocation(issuer: KeyPair, uid: Uid, reason: str, revoked_at: int) -> Revocation:
    if len(reason.encode()) > MAX_NEW_REASON_BYTES:
        raise RecordError(f"a reason is over {MAX_NEW_REASON_BYTES} bytes", code="reason_invalid")
    unsigned = Revocation(uid, reason, revoked_at, bytes(64))
    return Revocation(uid, reason, revoked_at, _sign(issuer, unsigned))


def make_handover(issuer: KeyPair, uid: Uid, earner_key: PublicKey) -> Handover:
    """The issuer's one-time hand-over of an email-only badge to the key that claimed it."""
    return Handover(uid, earner_key, _sign(issuer, Handover(uid, earner_key, bytes(64))))


def _sign(key: KeyPair, part: Entry | Location | Revocation | Handover) -> bytes:
    return key.sign(part.signed_bytes())


def verify_entry(entry: Entry) -> None:
    """Raise unless the issuer signed the entry and the UID is its signature over the badge."""
    if not verify_signature(entry.issuer_key, entry.signed_bytes(), entry.signature):
        raise RecordError("the entry is not signed by its issuer", code="entry_signature_invalid")
    # DESIGN.md "BNS protocol": nobody can claim another issuer's UID.
    if not verify_signature(entry.issuer_key, entry.signing_input, entry.uid):
        raise RecordError(
            "the UID is not the issuer's signature over the badge", code="uid_not_issuer_signature"
        )


def validate_record(record: Record, difficulty: int = 0) -> Record:
    """Check every part of `record` (DESIGN.md "BNS protocol", "valid when"); return it.

    `difficulty` is the network's proof-of-work setting for entries (0: no stamp needed).
    """
    verify_entry(record.entry)
    check_stamp(record.entry, difficulty)
    location, revocation = record.location, record.revocation
    for part in (location, revocation, record.handover):
        if part is not None and part.uid != record.entry.uid:
            raise RecordError("a part names another UID than the entry", code="uid_mismatch")
    _check_handover(record)
    writer = location_writer(record)
    if location and not verify_signature(writer, location.signed_bytes(), location.signature):
        raise RecordError(
            "the location is not signed by its writer", code="location_signature_invalid"
        )
    issuer = record.entry.issuer_key
    if revocation and not verify_signature(issuer, revocation.signed_bytes(), revocation.signature):
        raise RecordError(
            "the revocation is not signed by the issuer", code="revocation_signature_invalid"
        )
    if len(record.to_wire_bytes()) > MAX_VALUE_BYTES:
        raise RecordError(f"record over {MAX_VALUE_BYTES} bytes", code="record_too_large")
    return record


def _check_handover(record: Record) -> None:
    handover = record.handover
    if handover is None:
        return
    if record.entry.earner_key is not None:
        raise RecordError(
            "only a badge without an earner key can be handed over", code="handover_not_allowed"
        )
    issuer = record.entry.issuer_key
    if not verify_signature(issuer, handover.signed_bytes(), handover.signature):
        raise RecordError(
            "the hand-over is not signed by the issuer", code="handover_signature_invalid"
        )


def merge(a: Record, b: Record) -> Record:
    """The join of two valid records of one UID: commutative, associative, idempotent.

    Entry: immutable, a different one is `entry_conflict`. Location: highest (seq, signature).
    Revocation: permanent; of two, the earliest (revoked_at, signature).
    """
    if a.entry != b.entry:
        raise RecordError("two different entries for one UID", code="entry_conflict")
    # A hand-over is one-time: a second, different one is refused like a second entry.
    if a.handover and b.handover and a.handover != b.handover:
        raise RecordError("two different hand-overs for one UID", code="handover_conflict")
    handover = a.handover or b.handover
    location = None
    for candidate in (a.location, b.location):
        # After a hand-over the issuer's locations from before it drop out.
        if candidate and (handover is None or _signed_by(handover.earner_key, candidate)):
            location = _newer_location(location, candidate)
    return Record(a.entry, location, _first_revocation(a, b), handover)


def _signed_by(key: PublicKey, location: Location) -> bool:
    return verify_signature(key, location.signed_bytes(), location.signature)


def _newer_location(a: Location | None, b: Location | None) -> Location | None:
    if a is None or b is None:
        return a or b
    # The wire bytes make the order total even for parts that share a signature.
    return max(a, b, key=lambda loc: (loc.seq, loc.signature, loc.to_wire_bytes()))


def _first_revocation(a: Record, b: Record) -> Revocation | None:
    x, y = a.revocation, b.revocation
    if x is None or y is None:
        return x or y
    return min(x, y, key=lambda rev: (rev.revoked_at, rev.signature, rev.to_wire_bytes()))


def accept_store(current: Record | None, incoming: Record, difficulty: int = 0) -> Record:
    """What a storing node keeps after a STORE: the merge of what it held and a valid write.

    Raises RecordError when `incoming` is invalid or carries a conflicting entry (the caller
    keeps `current`). An older location is not an error here, so replicas converge whatever
    order writes arrive in; `check_location_update` tells a writer its update is stale.
    `current` is trusted: it was validated when it was stored.
    """
    validate_record(incoming, difficulty)
    return incoming if current is None else merge(current, incoming)


def check_location_update(current: Record | None, location: Location) -> None:
    """Raise `stale` unless `location` is new and its seq is above the held one (for writers)."""
    held = None if current is None else current.location
    if held is not None and location != held and location.seq <= held.seq:
        raise RecordError(
            f"location seq {location.seq} is not above the held seq {held.seq}", code="stale"
        )
