"""The three signed parts of a BNS record (DESIGN.md "BNS protocol"): the issuer's entry,
the earner's location and the issuer's revocation, each validated when built, with its
wire form and the bytes its signature covers. bns.record signs, checks and merges them.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from badgechain.chain.errors import DecodeError
from badgechain.chain.keys import PublicKey
from badgechain.chain.uid import Uid

from .wire import WIRE_VERSION, check, decoded, is_bytes, is_uint, pack, unpack, versioned_fields

__all__ = [
    "DOMAIN_ENTRY",
    "DOMAIN_HANDOVER",
    "DOMAIN_LOCATION",
    "DOMAIN_REVOCATION",
    "MAX_NEW_REASON_BYTES",
    "MAX_REASON_BYTES",
    "MAX_URLS",
    "MAX_URLS_TOTAL_CHARS",
    "MAX_URL_CHARS",
    "Entry",
    "Handover",
    "Location",
    "Revocation",
    "valid_url",
]

MAX_URLS = 4
MAX_URL_CHARS = 256
# Four URLs of 256 characters do not fit one datagram beside the other parts, so the URLs
# share a budget; tests/bns/test_record.py builds the worst case and checks it fits.
MAX_URLS_TOTAL_CHARS = 448
# UTF-8 bytes of a revocation reason a node accepts: 256, as before hand-overs existed, so a
# revocation stored by an older node never stops decoding (a revocation must not vanish).
MAX_REASON_BYTES = 256
# ...and of a reason a node writes now: 224 leaves room for a hand-over in one datagram
# (the worst case: tests/node/test_claims.py).
MAX_NEW_REASON_BYTES = 224

# Signatures cover a per-kind tag plus canonical bytes (STYLE.md "Records on the wire"), so a
# signature over one kind of part never verifies as another.
DOMAIN_ENTRY = b"badgechain/bns/entry/v1\x00"
DOMAIN_LOCATION = b"badgechain/bns/location/v1\x00"
DOMAIN_REVOCATION = b"badgechain/bns/revocation/v1\x00"
DOMAIN_HANDOVER = b"badgechain/bns/handover/v1\x00"

# ASCII only: an IRI is percent-encoded before it goes into a record.
_URL = re.compile(r"https?://[A-Za-z0-9.\-:\[\]@%_~!$&'()*+,;=]+(?:[/?#][!-~]*)?")


class _SignedPart(ABC):
    """Wire form shared by the signed parts: [version, *fields, signature], where the
    signature covers the part's domain tag plus the canonical bytes of the unsigned fields."""

    __slots__ = ()
    DOMAIN: ClassVar[bytes]
    FIELD_COUNT: ClassVar[int]  # on the wire, version and signature included
    signature: bytes

    @abstractmethod
    def unsigned_fields(self) -> list[Any]:
        """[WIRE_VERSION, *fields] in wire order."""

    def signed_bytes(self) -> bytes:
        return self.DOMAIN + pack(self.unsigned_fields())

    def to_fields(self) -> list[Any]:
        return [*self.unsigned_fields(), self.signature]

    def to_wire_bytes(self) -> bytes:
        return pack(self.to_fields())

    @classmethod
    def _decode_fields(cls, fields: list[Any]) -> list[Any]:
        """Turn decoded wire values into constructor arguments (identity by default)."""
        return fields

    @classmethod
    def from_fields(cls, value: Any) -> Self:
        return decoded(cls, cls._decode_fields(versioned_fields(value, cls.FIELD_COUNT)[1:]))

    @classmethod
    def from_wire_bytes(cls, data: bytes) -> Self:
        return cls.from_fields(unpack(data))


@dataclass(frozen=True, slots=True)
class Entry(_SignedPart):
    """The issuer's part: binds the UID to the issuer key, the earner key and the badge."""

    DOMAIN: ClassVar[bytes] = DOMAIN_ENTRY
    FIELD_COUNT: ClassVar[int] = 8
    uid: Uid
    issuer_key: PublicKey
    earner_key: PublicKey | None  # None: an email-only badge, the issuer writes the location
    signing_input: bytes
    created: int
    stamp: int  # hashcash nonce over the UID (see `stamp_bits`); 0 when the network asks none
    signature: bytes

    def __post_init__(self) -> None:
        check(is_bytes(self.uid, 64), "uid must be 64 bytes")
        check(is_bytes(self.issuer_key, 32), "issuer key must be 32 bytes")
        check(self.earner_key is None or is_bytes(self.earner_key, 32), "bad earner key")
        check(is_bytes(self.signing_input, 64), "signing input must be 64 bytes")
        check(is_uint(self.created), "created must be an unsigned 64-bit integer")
        check(is_uint(self.stamp), "stamp must be an unsigned 64-bit integer")
        check(is_bytes(self.signature, 64), "signature must be 64 bytes")

    @property
    def location_writer(self) -> PublicKey:
        """Who signs locations: the earner, or the issuer while the badge has no earner key."""
        return self.issuer_key if self.earner_key is None else self.earner_key

    def unsigned_fields(self) -> list[Any]:
        return [
            WIRE_VERSION,
            self.uid,
            self.issuer_key,
            self.earner_key,
            self.signing_input,
            self.created,
            self.stamp,
        ]


@dataclass(frozen=True, slots=True)
class Location(_SignedPart):
    """The earner's part: where the badge can be fetched (empty = hidden), ordered by `seq`."""

    DOMAIN: ClassVar[bytes] = DOMAIN_LOCATION
    FIELD_COUNT: ClassVar[int] = 5
    uid: Uid
    urls: tuple[str, ...]
    seq: int
    signature: bytes

    def __post_init__(self) -> None:
        check(is_bytes(self.uid, 64), "uid must be 64 bytes")
        check(isinstance(self.urls, tuple) and len(self.urls) <= MAX_URLS, "too many URLs")
        check(all(valid_url(url) for url in self.urls), "URLs must be http(s), ASCII, bounded")
        check(sum(map(len, self.urls)) <= MAX_URLS_TOTAL_CHARS, "URLs are too long together")
        check(is_uint(self.seq), "seq must be an unsigned 64-bit integer")
        check(is_bytes(self.signature, 64), "signature must be 64 bytes")

    def unsigned_fields(self) -> list[Any]:
        return [WIRE_VERSION, self.uid, list(self.urls), self.seq]

    @classmethod
    def _decode_fields(cls, fields: list[Any]) -> list[Any]:
        if not isinstance(fields[1], list):
            raise DecodeError("location URLs must be an array")
        return [fields[0], tuple(fields[1]), *fields[2:]]


def _utf8_size(text: object) -> int:
    """UTF-8 size of `text`, or -1 when it is not text that UTF-8 can carry (lone surrogates)."""
    try:
        return len(text.encode()) if isinstance(text, str) else -1
    except UnicodeEncodeError:
        return -1


def valid_url(url: object) -> bool:
    """An http(s) URL a BNS value may carry: ASCII, at most MAX_URL_CHARS."""
    return isinstance(url, str) and len(url) <= MAX_URL_CHARS and bool(_URL.fullmatch(url))


@dataclass(frozen=True, slots=True)
class Revocation(_SignedPart):
    """The issuer's revocation of the badge: permanent once any valid one is seen."""

    DOMAIN: ClassVar[bytes] = DOMAIN_REVOCATION
    FIELD_COUNT: ClassVar[int] = 5
    uid: Uid
    reason: str
    revoked_at: int
    signature: bytes

    def __post_init__(self) -> None:
        check(is_bytes(self.uid, 64), "uid must be 64 bytes")
        check(_utf8_size(self.reason) in range(MAX_REASON_BYTES + 1), "reason: text, bounded")
        check(is_uint(self.revoked_at), "revoked_at must be an unsigned 64-bit integer")
        check(is_bytes(self.signature, 64), "signature must be 64 bytes")

    def unsigned_fields(self) -> list[Any]:
        return [WIRE_VERSION, self.uid, self.reason, self.revoked_at]


@dataclass(frozen=True, slots=True)
class Handover(_SignedPart):
    """The issuer's one-time hand-over of an email-only badge (entry without an earner key)
    to the key that claimed it: from then on that key alone writes the location."""

    DOMAIN: ClassVar[bytes] = DOMAIN_HANDOVER
    FIELD_COUNT: ClassVar[int] = 4
    uid: Uid
    earner_key: PublicKey
    signature: bytes

    def __post_init__(self) -> None:
        check(is_bytes(self.uid, 64), "uid must be 64 bytes")
        check(is_bytes(self.earner_key, 32), "earner key must be 32 bytes")
        check(is_bytes(self.signature, 64), "signature must be 64 bytes")

    def unsigned_fields(self) -> list[Any]:
        return [WIRE_VERSION, self.uid, self.earner_key]
