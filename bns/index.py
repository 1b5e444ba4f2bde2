"""BNS indexes (DESIGN.md "BNS protocol"): all badges of an issuer, all badges of an earner.

An index is a run of numbered pages; each page is a DHT value of one datagram whose items
verify on their own. Pure: no I/O, no clock. Merging two pages is a CRDT.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any, ClassVar, Generic, Self, TypeVar, overload

from badgechain.chain.errors import DecodeError
from badgechain.chain.keys import PublicKey, verify_signature

from .errors import RecordError
from .index_items import (
    DOMAIN_EARNER_ITEM,
    DOMAIN_ISSUER_ITEM,
    EarnerItem,
    IssuerItem,
    earner_item_signed_bytes,
    issuer_item_signed_bytes,
    make_earner_item,
    make_issuer_item,
)
from .record import DhtKey, Entry, check_stamp, verify_entry
from .wire import WIRE_VERSION, check, decoded, is_bytes, is_uint, pack, unpack, versioned_fields

__all__ = [
    "DOMAIN_EARNER_ITEM",
    "DOMAIN_EARNER_PAGE_KEY",
    "DOMAIN_ISSUER_ITEM",
    "DOMAIN_ISSUER_PAGE_KEY",
    "EARNER_PAGE_ITEMS",
    "EARNER_PAGE_KIND",
    "ISSUER_PAGE_ITEMS",
    "ISSUER_PAGE_KIND",
    "EarnerItem",
    "EarnerPage",
    "IssuerItem",
    "IssuerPage",
    "accept_earner_page",
    "accept_issuer_page",
    "add_many_to_page",
    "add_to_page",
    "earner_item_signed_bytes",
    "earner_page_key",
    "issuer_item_signed_bytes",
    "issuer_page_key",
    "make_earner_item",
    "make_issuer_item",
    "merge_earner_pages",
    "merge_issuer_pages",
    "page_is_full",
    "page_room",
    "validate_earner_page",
    "validate_issuer_page",
]

DOMAIN_ISSUER_PAGE_KEY = b"badgechain/bns/issuer-page-key/v1\x00"
DOMAIN_EARNER_PAGE_KEY = b"badgechain/bns/earner-page-key/v1\x00"

# A page leads with a text tag where a record leads with its version number, so no page
# decodes as a record, nor one kind of page as the other.
ISSUER_PAGE_KIND = "bns/issuer-page"
EARNER_PAGE_KIND = "bns/earner-page"

# As many items as fit one datagram with every number at its largest (an issuer item is 133
# bytes, an earner item at most 319: 252 for the entry without its earner key, 66 for the
# page signature); tests/bns/test_index.py checks it.
ISSUER_PAGE_ITEMS = 8
EARNER_PAGE_ITEMS = 3

# Entry.to_fields() is [version, uid, issuer_key, earner_key, ...]: earner pages write the
# earner key once for the page instead of once per entry. A test keeps this in step.
_EARNER_KEY_FIELD = 3


def _page_key(domain: bytes, owner: bytes, page: int) -> DhtKey:
    check(is_bytes(owner, 32), "an index owner key is 32 bytes")
    check(is_uint(page), "a page number is an unsigned 64-bit integer")
    return DhtKey(hashlib.sha256(domain + owner + page.to_bytes(8, "big")).digest())


def issuer_page_key(issuer_key: PublicKey, page: int) -> DhtKey:
    """sha256(DOMAIN_ISSUER_PAGE_KEY ‖ issuer key ‖ page as 8 big-endian bytes)."""
    return _page_key(DOMAIN_ISSUER_PAGE_KEY, issuer_key, page)


def earner_page_key(earner_key: PublicKey, page: int) -> DhtKey:
    """sha256(DOMAIN_EARNER_PAGE_KEY ‖ earner key ‖ page as 8 big-endian bytes)."""
    return _page_key(DOMAIN_EARNER_PAGE_KEY, earner_key, page)


_Item = TypeVar("_Item", IssuerItem, EarnerItem)
_Page_T = TypeVar("_Page_T", bound="_Page[Any]")


class _Page(ABC, Generic[_Item]):
    """What both kinds of page share. On the wire: [kind, version, owner key, page number,
    [item, ...]], the items sorted by UID, each UID once, at most CAPACITY of them."""

    __slots__ = ()
    KIND: ClassVar[str]
    KEY_DOMAIN: ClassVar[bytes]
    CAPACITY: ClassVar[int]
    page: int

    @property
    @abstractmethod
    def owner(self) -> PublicKey:
        """The key whose index this page is part of."""

    @property
    @abstractmethod
    def members(self) -> tuple[_Item, ...]:
        """The items, sorted by UID."""

    @abstractmethod
    def with_members(self, members: tuple[_Item, ...]) -> Self:
        """This page holding `members` instead."""

    @abstractmethod
    def item_fields(self, item: _Item) -> list[Any]:
        """The wire form of one item of this page."""

    @classmethod
    @abstractmethod
    def _item_from_fields(cls, owner: Any, value: Any) -> _Item:
        """Decode one item (raising DecodeError) of a page owned by `owner`."""

    def _check_shape(self, item_type: type[_Item]) -> None:
        check(is_bytes(self.owner, 32), "the page's owner key must be 32 bytes")
        check(is_uint(self.page), "the page number must be an unsigned 64-bit integer")
        members = self.members
        check(isinstance(members, tuple), "the items must be a tuple")
        check(all(isinstance(item, item_type) for item in members), "an item has the wrong type")
        check(all(a.uid < b.uid for a, b in pairwise(members)), "items sorted by UID, each once")
        check(len(members) <= self.CAPACITY, f"a page holds at most {self.CAPACITY} items")

    @property
    def key(self) -> DhtKey:
        """Where this page lives in the DHT."""
        return _page_key(self.KEY_DOMAIN, self.owner, self.page)

    def to_wire_bytes(self) -> bytes:
        items = [self.item_fields(item) for item in self.members]
        return pack([self.KIND, WIRE_VERSION, self.owner, self.page, items])

    @classmethod
    def from_wire_bytes(cls, data: bytes) -> Self:
        value = unpack(data)
        if not isinstance(value, list) or not value or value[0] != cls.KIND:
            raise DecodeError(f"not a {cls.KIND} value", code="kind_mismatch")
        _, owner, page, items = versioned_fields(value[1:], 4)
        if not isinstance(items, list):
            raise DecodeError("the items of a page must be an array")
        members = tuple(cls._item_from_fields(owner, item) for item in items)
        return decoded(cls, [owner, page, members])


@dataclass(frozen=True, slots=True)
class IssuerPage(_Page[IssuerItem]):
    """Page `page` of the index of the badges `issuer_key` issued: UIDs it signed for it."""

    KIND: ClassVar[str] = ISSUER_PAGE_KIND
    KEY_DOMAIN: ClassVar[bytes] = DOMAIN_ISSUER_PAGE_KEY
    CAPACITY: ClassVar[int] = ISSUER_PAGE_ITEMS
    issuer_key: PublicKey
    page: int
    items: tuple[IssuerItem, ...] = ()

    def __post_init__(self) -> None:
        self._check_shape(IssuerItem)

    @property
    def owner(self) -> PublicKey:
        return self.issuer_key

    @property
    def members(self) -> tuple[IssuerItem, ...]:
        return self.items

    def with_members(self, members: tuple[IssuerItem, ...]) -> Self:
        return replace(self, items=members)

    def item_fields(self, item: IssuerItem) -> list[Any]:
        return [item.uid, item.signature]

    @classmethod
    def _item_from_fields(cls, owner: Any, value: Any) -> IssuerItem:
        if not isinstance(value, list) or len(value) != 2:
            raise DecodeError("an issuer item is an array [uid, signature]")
        return decoded(IssuerItem, value)


@dataclass(frozen=True, slots=True)
class EarnerPage(_Page[EarnerItem]):
    """Page `page` of the index of the badges of `earner_key`: entries that name that earner,
    each signed for this page by its issuer.

    An entry naming another earner cannot be put in (`index_wrong_earner`). On the wire an
    item is [entry, page signature], the entry's fields without the earner key, which is
    written once for the page, so a decoded page can hold no other earner's entry.
    """

    KIND: ClassVar[str] = EARNER_PAGE_KIND
    KEY_DOMAIN: ClassVar[bytes] = DOMAIN_EARNER_PAGE_KEY
    CAPACITY: ClassVar[int] = EARNER_PAGE_ITEMS
    earner_key: PublicKey
    page: int
    items: tuple[EarnerItem, ...] = ()

    def __post_init__(self) -> None:
        self._check_shape(EarnerItem)
        if any(item.entry.earner_key != self.earner_key for item in self.items):
            raise RecordError(
                "an entry of an earner page names another earner", code="index_wrong_earner"
            )

    @property
    def entries(self) -> tuple[Entry, ...]:
        """The entries of the items its earner has not withdrawn, sorted by UID."""
        return tuple(item.entry for item in self.items if not item.withdrawn)

    @property
    def owner(self) -> PublicKey:
        return self.earner_key

    @property
    def members(self) -> tuple[EarnerItem, ...]:
        return self.items

    def with_members(self, members: tuple[EarnerItem, ...]) -> Self:
        return replace(self, items=members)

    def item_fields(self, item: EarnerItem) -> list[Any]:
        fields = item.entry.to_fields()
        wire = [fields[:_EARNER_KEY_FIELD] + fields[_EARNER_KEY_FIELD + 1 :], item.signature]
        return [*wire, item.seq, item.withdrawn] if item.version != (0, False) else wire

    @classmethod
    def _item_from_fields(cls, owner: Any, value: Any) -> EarnerItem:
        if (
            not isinstance(value, list)
            or len(value) not in (2, 4)
            or not isinstance(value[0], list)
        ):
            raise DecodeError("an earner item is an array [entry, signature(, seq, withdrawn)]")
        fields, signature, *version = value
        if version == [0, False]:
            raise DecodeError("an earner item's first version is written without it")
        entry = Entry.from_fields([*fields[:_EARNER_KEY_FIELD], owner, *fields[_EARNER_KEY_FIELD:]])
        return decoded(EarnerItem, [entry, signature, *version])


def _require_signed_for_page(
    page: IssuerPage | EarnerPage, key: PublicKey, signed: bytes, signature: bytes
) -> None:
    if not verify_signature(key, signed, signature):
        raise RecordError(
            f"an item of {page.KIND} {page.page} is not its issuer's item for that page",
            code="index_item_forged",
        )


def validate_issuer_page(page: IssuerPage) -> IssuerPage:
    """Raise `index_item_forged` unless the issuer signed every item for this very page."""
    for item in page.items:
        signed = issuer_item_signed_bytes(page.issuer_key, page.page, item.uid)
        _require_signed_for_page(page, page.issuer_key, signed, item.signature)
    return page


def validate_earner_page(page: EarnerPage, difficulty: int = 0) -> EarnerPage:
    """Raise unless every entry is its issuer's and the earner signed it for this very page
    (`index_item_forged`: no other writer), and it meets the network's proof-of-work
    `difficulty` (`stamp_insufficient`). That each entry names this earner holds by
    construction."""
    for item in page.items:
        try:
            verify_entry(item.entry)
        except RecordError as exc:
            raise RecordError(
                f"an entry of earner page {page.page} is forged: {exc.message}",
                code="index_item_forged",
            ) from exc
        check_stamp(item.entry, difficulty)
        signed = earner_item_signed_bytes(page.earner_key, page.page, item.uid, *item.version)
        _require_signed_for_page(page, page.earner_key, signed, item.signature)
    return page


def _merge(a: _Page_T, b: _Page_T) -> _Page_T:
    """Union by UID. Of two items for one UID the later version wins (earner items), then the
    smaller wire bytes, and past CAPACITY the smallest UIDs stay: each choice ignores arrival
    order, so merge is a semilattice."""
    if a.key != b.key:
        raise RecordError("two pages of different index keys", code="index_key_mismatch")
    chosen: dict[bytes, Any] = {}

    def rank(item: Any) -> tuple[int, int, bytes]:
        seq, withdrawn = getattr(item, "version", (0, False))
        return -seq, -int(withdrawn), pack(a.item_fields(item))

    for item in (*a.members, *b.members):
        held = chosen.get(item.uid)
        if held is None or rank(item) < rank(held):
            chosen[item.uid] = item
    kept = sorted(chosen.values(), key=lambda item: bytes(item.uid))[: a.CAPACITY]
    return a.with_members(tuple(kept))


def merge_issuer_pages(a: IssuerPage, b: IssuerPage) -> IssuerPage:
    """The join of two pages of one issuer index key (see `_merge`)."""
    return _merge(a, b)


def merge_earner_pages(a: EarnerPage, b: EarnerPage) -> EarnerPage:
    """The join of two pages of one earner index key (see `_merge`)."""
    return _merge(a, b)


def accept_issuer_page(current: IssuerPage | None, incoming: IssuerPage) -> IssuerPage:
    """What a storing node keeps after a STORE: `current` (trusted, validated when stored)
    merged with `incoming` once that is valid; raises RecordError otherwise."""
    validate_issuer_page(incoming)
    return incoming if current is None else merge_issuer_pages(current, incoming)


def accept_earner_page(
    current: EarnerPage | None, incoming: EarnerPage, difficulty: int = 0
) -> EarnerPage:
    """As `accept_issuer_page`, for an earner page on a network asking `difficulty`."""
    validate_earner_page(incoming, difficulty)
    return incoming if current is None else merge_earner_pages(current, incoming)


def page_is_full(page: IssuerPage | EarnerPage) -> bool:
    return len(page.members) >= page.CAPACITY


@overload
def add_to_page(page: IssuerPage, item: IssuerItem) -> IssuerPage: ...
@overload
def add_to_page(page: EarnerPage, item: EarnerItem) -> EarnerPage: ...
def add_to_page(page: IssuerPage | EarnerPage, item: Any) -> IssuerPage | EarnerPage:
    """`page` with `item` in it, for writers. A UID already there is merged; a new one on a
    full page raises `index_page_full` (the writer goes on to the next page), because a
    merge would silently drop the largest UID instead."""
    if page_is_full(page) and all(held.uid != item.uid for held in page.members):
        raise RecordError(
            f"page {page.page} of the index is full; write to the next page",
            code="index_page_full",
        )
    return _merge(page, page.with_members((item,)))


def page_room(page: IssuerPage | EarnerPage) -> int:
    """How many more items `page` takes."""
    return max(0, page.CAPACITY - len(page.members))


@overload
def add_many_to_page(page: IssuerPage, items: Sequence[IssuerItem]) -> IssuerPage: ...
@overload
def add_many_to_page(page: EarnerPage, items: Sequence[EarnerItem]) -> EarnerPage: ...
def add_many_to_page(
    page: IssuerPage | EarnerPage, items: Sequence[Any]
) -> IssuerPage | EarnerPage:
    """`page` with every one of `items` in it: one page write for many badges instead of a
    read, write and read-back for each. More new UIDs than the page has room for raise
    `index_page_full`, as `add_to_page` does."""
    held = {item.uid for item in page.members}
    new = {item.uid for item in items} - held
    if len(new) > page_room(page):
        raise RecordError(
            f"page {page.page} of the index has room for {page_room(page)} items, not {len(new)}",
            code="index_page_full",
        )
    return _merge(page, page.with_members(_sorted_unique(items)))


def _sorted_unique(items: Sequence[_Item]) -> tuple[_Item, ...]:
    chosen: dict[bytes, _Item] = {}
    for item in items:
        chosen.setdefault(item.uid, item)
    return tuple(sorted(chosen.values(), key=lambda item: bytes(item.uid)))
