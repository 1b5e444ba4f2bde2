"""The items of the BNS indexes (bns/index.py): a UID in an issuer's index, signed by the
issuer, and an entry in an earner's, signed by the earner (issue 14 item 4: the earner owns
its index), each for one page, so no item can be copied to another page. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from badgechain.chain.keys import KeyPair, PublicKey

from .errors import RecordError
from .record import Entry, Uid
from .wire import check, is_bytes, is_uint

__all__ = [
    "DOMAIN_EARNER_ITEM",
    "DOMAIN_ISSUER_ITEM",
    "EarnerItem",
    "IssuerItem",
    "earner_item_signed_bytes",
    "issuer_item_signed_bytes",
    "make_earner_item",
    "make_issuer_item",
]

DOMAIN_ISSUER_ITEM = b"badgechain/bns/issuer-item/v1\x00"
DOMAIN_EARNER_ITEM = b"badgechain/bns/earner-item/v1\x00"


@dataclass(frozen=True, slots=True)
class IssuerItem:
    """One UID of an issuer's index, signed by the issuer for one page of it."""

    uid: Uid
    signature: bytes

    def __post_init__(self) -> None:
        check(is_bytes(self.uid, 64), "uid must be 64 bytes")
        check(is_bytes(self.signature, 64), "signature must be 64 bytes")


def issuer_item_signed_bytes(issuer_key: PublicKey, page: int, uid: Uid) -> bytes:
    """What an issuer item's signature covers. The page is in it, so nobody can copy the
    issuer's items into other pages of its index to fill them and crowd real ones out."""
    check(is_uint(page), "a page number is an unsigned 64-bit integer")
    return DOMAIN_ISSUER_ITEM + issuer_key + page.to_bytes(8, "big") + uid


def make_issuer_item(issuer: KeyPair, page: int, uid: Uid) -> IssuerItem:
    signed = issuer_item_signed_bytes(issuer.public_key, page, uid)
    return IssuerItem(uid, issuer.sign(signed))


@dataclass(frozen=True, slots=True)
class EarnerItem:
    """One entry of an earner's index, signed by the earner for one page of it. `seq` (the
    earner's clock, seconds) orders the earner's versions of the item; a `withdrawn` one
    (on reject or hide) takes the entry out of the index until a later version puts it back."""

    entry: Entry
    signature: bytes
    seq: int = 0
    withdrawn: bool = False

    def __post_init__(self) -> None:
        check(isinstance(self.entry, Entry), "an earner item holds an Entry")
        check(is_bytes(self.signature, 64), "signature must be 64 bytes")
        check(is_uint(self.seq), "seq is an unsigned 64-bit integer")
        check(isinstance(self.withdrawn, bool), "withdrawn is a boolean")

    @property
    def uid(self) -> Uid:
        return self.entry.uid

    @property
    def version(self) -> tuple[int, bool]:
        """Of two items for one UID the greater version wins (a withdrawal at a tie)."""
        return self.seq, self.withdrawn


def earner_item_signed_bytes(
    earner_key: PublicKey, page: int, uid: Uid, seq: int = 0, withdrawn: bool = False
) -> bytes:
    """What an earner item's signature covers, as `issuer_item_signed_bytes` for the earner's
    index: a valid entry alone fits every page of it, so anyone could copy real entries into
    a page to crowd out the ones its earner put there; the page in the signature stops it.
    A later version (`seq`, `withdrawn`) follows the UID (fixed 64 bytes, so unambiguous)."""
    check(is_bytes(earner_key, 32), "an earner key is 32 bytes")
    check(is_uint(page), "a page number is an unsigned 64-bit integer")
    check(is_uint(seq), "seq is an unsigned 64-bit integer")
    signed = DOMAIN_EARNER_ITEM + earner_key + page.to_bytes(8, "big") + uid
    return signed + seq.to_bytes(8, "big") + bytes([withdrawn]) if seq or withdrawn else signed


def make_earner_item(
    earner: KeyPair, page: int, entry: Entry, *, seq: int = 0, withdrawn: bool = False
) -> EarnerItem:
    """`entry` for page `page` of its earner's index, signed by `earner`, the entry's earner
    (when it accepts the badge); `withdrawn` takes it out again (reject, hide)."""
    if entry.earner_key is None:
        raise RecordError("the entry names no earner to index it for", code="index_wrong_earner")
    if earner.public_key != entry.earner_key:
        raise RecordError(
            "only a badge's earner writes its earner index", code="index_wrong_writer"
        )
    signed = earner_item_signed_bytes(entry.earner_key, page, entry.uid, seq, withdrawn)
    return EarnerItem(entry, earner.sign(signed), seq, withdrawn)
