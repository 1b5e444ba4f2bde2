"""Inbox announcements: a DHT value, signed by a node's key, saying where its inbox is.

An issuer who knows only an earner's did:key finds there the URL to deliver the badge to
(issue 4, "earner inbox discovery"). Pure: no I/O, no clock. Merging two announcements is a
CRDT: the highest (seq, signature) wins, whatever order they arrive in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Self

from badgechain.chain.errors import DecodeError
from badgechain.chain.keys import KeyPair, PublicKey, did_key_from_public_key, verify_signature

from .errors import RecordError
from .record import DhtKey, valid_url
from .wire import (
    MAX_VALUE_BYTES,
    WIRE_VERSION,
    check,
    decoded,
    is_bytes,
    is_uint,
    pack,
    unpack,
    versioned_fields,
)

__all__ = [
    "DOMAIN_INBOX",
    "DOMAIN_INBOX_KEY",
    "INBOX_KIND",
    "InboxRecord",
    "accept_inbox_record",
    "inbox_key",
    "make_inbox_record",
    "merge_inbox_records",
    "validate_inbox_record",
]

DOMAIN_INBOX: Final = b"badgechain/bns/inbox/v1\x00"
DOMAIN_INBOX_KEY: Final = b"badgechain/bns/inbox-key/v1\x00"
# A text tag leads the value, as in the index pages, so it never decodes as another kind.
INBOX_KIND: Final = "bns/inbox"


def inbox_key(public_key: PublicKey) -> DhtKey:
    """sha256(DOMAIN_INBOX_KEY ‖ public key): where a key's inbox announcement lives."""
    check(is_bytes(public_key, 32), "a public key is 32 bytes")
    return DhtKey(hashlib.sha256(DOMAIN_INBOX_KEY + public_key).digest())


@dataclass(frozen=True, slots=True)
class InboxRecord:
    """On the wire: [INBOX_KIND, version, public key, inbox URL, seq, signature], the
    signature covering DOMAIN_INBOX plus the canonical bytes of the fields before it."""

    FIELD_COUNT: ClassVar[int] = 6
    public_key: PublicKey
    url: str
    seq: int
    signature: bytes

    def __post_init__(self) -> None:
        check(is_bytes(self.public_key, 32), "the public key must be 32 bytes")
        check(valid_url(self.url), "the inbox URL must be http(s), ASCII, bounded")
        check(is_uint(self.seq), "seq must be an unsigned 64-bit integer")
        check(is_bytes(self.signature, 64), "signature must be 64 bytes")

    @property
    def key(self) -> DhtKey:
        return inbox_key(self.public_key)

    @property
    def did(self) -> str:
        return did_key_from_public_key(self.public_key)

    def unsigned_fields(self) -> list[Any]:
        return [INBOX_KIND, WIRE_VERSION, self.public_key, self.url, self.seq]

    def signed_bytes(self) -> bytes:
        return DOMAIN_INBOX + pack(self.unsigned_fields())

    def to_wire_bytes(self) -> bytes:
        return pack([*self.unsigned_fields(), self.signature])

    @classmethod
    def from_wire_bytes(cls, data: bytes) -> Self:
        value = unpack(data)
        if not isinstance(value, list) or not value or value[0] != INBOX_KIND:
            raise DecodeError(f"not a {INBOX_KIND} value", code="kind_mismatch")
        fields = versioned_fields(value[1:], cls.FIELD_COUNT - 1)
        return decoded(cls, fields[1:])


def make_inbox_record(key: KeyPair, url: str, seq: int) -> InboxRecord:
    """`key`'s announcement that its inbox is at `url`; `seq` must grow with every change."""
    unsigned = InboxRecord(key.public_key, url, seq, bytes(64))
    return InboxRecord(key.public_key, url, seq, key.sign(unsigned.signed_bytes()))


def validate_inbox_record(record: InboxRecord) -> InboxRecord:
    """Raise unless the key it names signed it (`inbox_signature_invalid`) and it fits one
    datagram (`record_too_large`); return it."""
    if not verify_signature(record.public_key, record.signed_bytes(), record.signature):
        raise RecordError(
            "the inbox announcement is not signed by its key", code="inbox_signature_invalid"
        )
    if len(record.to_wire_bytes()) > MAX_VALUE_BYTES:
        raise RecordError(
            f"inbox announcement over {MAX_VALUE_BYTES} bytes", code="record_too_large"
        )
    return record


def merge_inbox_records(a: InboxRecord, b: InboxRecord) -> InboxRecord:
    """The join of two valid announcements of one key: the highest (seq, signature) wins.

    The wire bytes break the last tie, so the order is total and merge is a semilattice.
    """
    if a.public_key != b.public_key:
        raise RecordError("two inbox announcements of different keys", code="inbox_key_mismatch")
    return max(a, b, key=lambda record: (record.seq, record.signature, record.to_wire_bytes()))


def accept_inbox_record(current: InboxRecord | None, incoming: InboxRecord) -> InboxRecord:
    """What a storing node keeps after a STORE: `current` (validated when it was stored)
    merged with `incoming` once that is valid; raises RecordError otherwise."""
    validate_inbox_record(incoming)
    return incoming if current is None else merge_inbox_records(current, incoming)
