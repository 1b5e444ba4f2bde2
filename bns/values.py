"""What the BNS DHT stores: every kind of value, where it lives, and how two copies merge.

Pure: the DHT (bns/dht.py) hands every STORE and every answer to `BnsValues`, which decodes
the value, checks that it belongs at the address it was sent to, validates it in full and
merges it with what is held. A value that fails is refused; nothing unsigned is kept.

Kinds: a BNS record (under H(UID)), a page of an issuer's index and a page of an earner's
index (bns/index.py), a node's inbox announcement (bns/inbox.py), and a board of public
gateways' announcements (bns/peers.py). A page or an
announcement starts with its kind's name, a record with its wire version, so no value
decodes as another kind.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Final

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type information

from badgechain.chain.errors import DecodeError

from .errors import RecordError
from .inbox import INBOX_KIND, InboxRecord, accept_inbox_record
from .index import (
    EARNER_PAGE_KIND,
    ISSUER_PAGE_KIND,
    EarnerPage,
    IssuerPage,
    accept_earner_page,
    accept_issuer_page,
)
from .peers import PEERS_KIND, PeerBoard, accept_peer_board
from .record import MAX_VALUE_BYTES, DhtKey, Record, accept_store, derive_dht_key

__all__ = [
    "ADDRESS_BYTES",
    "MAX_ACCEPTED",
    "BnsValue",
    "BnsValues",
    "address_of_key",
    "decode_value",
    "key_of",
]

ADDRESS_BYTES: Final = 20  # the DHT's key space is 160 bits: a DhtKey's first 20 bytes
MAX_ACCEPTED: Final = 4096  # `BnsValues.accept` answers remembered (about 2 MiB at most)

BnsValue = Record | IssuerPage | EarnerPage | InboxRecord | PeerBoard


def address_of_key(key: DhtKey) -> bytes:
    return key[:ADDRESS_BYTES]


def _kind_tag(data: bytes) -> object:
    """The first element of the top-level array, read without decoding the rest."""
    if not isinstance(data, bytes | bytearray) or len(data) > MAX_VALUE_BYTES:
        raise DecodeError(
            f"a BNS value is bytes, at most {MAX_VALUE_BYTES}", code="value_too_large"
        )
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=MAX_VALUE_BYTES)
    unpacker.feed(data)
    try:
        if unpacker.read_array_header() < 1:
            raise DecodeError("a BNS value is a non-empty array")
        return unpacker.unpack()
    except (ValueError, TypeError, msgpack.UnpackException, msgpack.OutOfData) as exc:
        raise DecodeError(f"not a BNS value: {exc}") from exc


def decode_value(data: bytes) -> BnsValue:
    """Decode a stored value of any kind; raise DecodeError when it is none of them."""
    tag = _kind_tag(data)
    if tag == ISSUER_PAGE_KIND:
        return IssuerPage.from_wire_bytes(data)
    if tag == EARNER_PAGE_KIND:
        return EarnerPage.from_wire_bytes(data)
    if tag == INBOX_KIND:
        return InboxRecord.from_wire_bytes(data)
    if tag == PEERS_KIND:
        return PeerBoard.from_wire_bytes(data)
    return Record.from_wire_bytes(data)


def key_of(value: BnsValue) -> DhtKey:
    """The DHT key a value lives under: derived from its content, never chosen by a writer."""
    if isinstance(value, Record):
        return derive_dht_key(value.entry.uid)
    return value.key


class BnsValues:
    """The BNS value policy for a network whose entries need `difficulty` bits of work."""

    def __init__(self, difficulty: int = 0) -> None:
        self.difficulty = difficulty
        # What `accept` answered lately, by a digest of its arguments: replicas answer the
        # same bytes fetch after fetch, and a fetch merges the same pair twice (its answers
        # with this node's copy, then the STORE of the merge here), each time checking the
        # same signatures again. The answer is a function of the arguments alone.
        self._accepted: OrderedDict[bytes, bytes] = OrderedDict()

    def address_of(self, value: bytes) -> bytes:
        return address_of_key(key_of(decode_value(value)))

    def accept(self, address: bytes, current: bytes | None, incoming: bytes) -> bytes:
        """`incoming` validated and merged into `current` (see bns/replica.ValuePolicy)."""
        digest = hashlib.sha256()
        for part in (address, current or b"", incoming):
            digest.update(len(part).to_bytes(4, "big") + part)
        key = digest.digest()
        merged = self._accepted.get(key)
        if merged is None:
            merged = self._accept(address, current, incoming)  # raises when refused
            self._accepted[key] = merged
            while len(self._accepted) > MAX_ACCEPTED:
                self._accepted.popitem(last=False)
        return merged

    def _accept(self, address: bytes, current: bytes | None, incoming: bytes) -> bytes:
        new = decode_value(incoming)
        if address_of_key(key_of(new)) != address:
            raise RecordError("the value belongs at another address", code="address_mismatch")
        held = None if current is None else decode_value(current)
        if held is not None and type(held) is not type(new):
            raise RecordError("a value of another kind is held here", code="kind_mismatch")
        merged: BnsValue
        if isinstance(new, Record):
            held_record = held if isinstance(held, Record) else None
            merged = accept_store(held_record, new, self.difficulty)
        elif isinstance(new, IssuerPage):
            merged = accept_issuer_page(held if isinstance(held, IssuerPage) else None, new)
        elif isinstance(new, InboxRecord):
            merged = accept_inbox_record(held if isinstance(held, InboxRecord) else None, new)
        elif isinstance(new, PeerBoard):
            merged = accept_peer_board(held if isinstance(held, PeerBoard) else None, new)
        else:
            held_page = held if isinstance(held, EarnerPage) else None
            merged = accept_earner_page(held_page, new, self.difficulty)
        return merged.to_wire_bytes()
