"""Peer boards: DHT values under well-known keys where public gateways announce themselves,
so that anyone asking one gateway's GET /peers learns others (issue 15 item 5). Pure.

There are PEER_BUCKETS boards; a node announces on the one its key falls in. An entry is
signed by its node's key; a board holds at most MAX_BOARD_ENTRIES of them, one per key (the
highest (seq, signature)), and the highest seqs when more arrive. The seq is the time of
the announcement in seconds: readers drop entries too old or from the future (a board
merge cannot read the clock). Merging is a CRDT (union, newest per key, top N), so the
replicas converge whatever order STOREs arrive in.

A reader's sample (`sample_announcements`) is spread out: one entry per signer, at most
MAX_PER_PREFIX per address prefix of the gateway URL (`url_prefix`: an IPv4 /24, an IPv6
/48, a name's registrable part), signers the reader has recently seen in its routing table
first, so one node or one network cannot crowd it, however many boards it fills.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Self
from urllib.parse import urlsplit

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
    "MAX_BOARD_ENTRIES",
    "MAX_PEER_URL_CHARS",
    "PEERS_KIND",
    "PEER_BUCKETS",
    "PeerAnnouncement",
    "PeerBoard",
    "accept_peer_board",
    "bucket_of",
    "make_peer_announcement",
    "merge_peer_boards",
    "peers_key",
    "sample_announcements",
    "sample_boards",
    "url_prefix",
]

PEERS_KIND: Final = "bns/peers"
DOMAIN_PEER: Final = b"badgechain/bns/peer/v1\x00"
DOMAIN_PEERS_KEY: Final = b"badgechain/bns/peers-key/v1\x00"
PEER_BUCKETS: Final = 16  # GET /peers reads every board: at most 80 gateways
# A board fits one BNS value (MAX_VALUE_BYTES): five entries of a 100-character URL do.
MAX_BOARD_ENTRIES: Final = 5
MAX_PEER_URL_CHARS: Final = 100
MAX_SAMPLE: Final = 32  # entries a reader's sample holds
MAX_PER_PREFIX: Final = 2  # of them with URLs in one address prefix (url_prefix)


def peers_key(bucket: int) -> DhtKey:
    """sha256(DOMAIN_PEERS_KEY ‖ bucket): where board `bucket` lives."""
    check(isinstance(bucket, int) and 0 <= bucket < PEER_BUCKETS, "no such peer board")
    return DhtKey(hashlib.sha256(DOMAIN_PEERS_KEY + bytes([bucket])).digest())


def bucket_of(public_key: PublicKey) -> int:
    """The board a node's key announces on."""
    return hashlib.sha256(DOMAIN_PEERS_KEY + public_key).digest()[0] % PEER_BUCKETS


@dataclass(frozen=True, slots=True)
class PeerAnnouncement:
    """[public key, gateway URL, seq, signature]; the signature covers DOMAIN_PEER plus the
    canonical bytes of [PEERS_KIND, version, public key, URL, seq]."""

    public_key: PublicKey
    url: str
    seq: int
    signature: bytes

    def __post_init__(self) -> None:
        check(is_bytes(self.public_key, 32), "the public key must be 32 bytes")
        check(
            valid_url(self.url) and len(self.url) <= MAX_PEER_URL_CHARS,
            f"the gateway URL must be http(s), ASCII, at most {MAX_PEER_URL_CHARS} characters",
        )
        check(is_uint(self.seq), "seq must be an unsigned 64-bit integer")
        check(is_bytes(self.signature, 64), "signature must be 64 bytes")

    @property
    def did(self) -> str:
        return did_key_from_public_key(self.public_key)

    def signed_bytes(self) -> bytes:
        return DOMAIN_PEER + pack([PEERS_KIND, WIRE_VERSION, self.public_key, self.url, self.seq])

    def fields(self) -> list[Any]:
        return [self.public_key, self.url, self.seq, self.signature]

    def order(self) -> tuple[int, bytes, bytes, str]:
        """A total order: newest first wins, the bytes break ties."""
        return (self.seq, self.signature, self.public_key, self.url)

    def is_signed(self) -> bool:
        return verify_signature(self.public_key, self.signed_bytes(), self.signature)


@dataclass(frozen=True, slots=True)
class PeerBoard:
    """On the wire: [PEERS_KIND, version, bucket, [entry fields, …]]."""

    bucket: int
    entries: tuple[PeerAnnouncement, ...]

    def __post_init__(self) -> None:
        check(isinstance(self.bucket, int) and 0 <= self.bucket < PEER_BUCKETS, "no such board")
        check(len(self.entries) <= MAX_BOARD_ENTRIES, "too many entries on a peer board")

    @property
    def key(self) -> DhtKey:
        return peers_key(self.bucket)

    def to_wire_bytes(self) -> bytes:
        entries = [entry.fields() for entry in self.entries]
        return pack([PEERS_KIND, WIRE_VERSION, self.bucket, entries])

    @classmethod
    def from_wire_bytes(cls, data: bytes) -> Self:
        value = unpack(data)
        if not isinstance(value, list) or not value or value[0] != PEERS_KIND:
            raise DecodeError(f"not a {PEERS_KIND} value", code="kind_mismatch")
        _, bucket, raw = versioned_fields(value[1:], 3)
        if not isinstance(raw, list) or len(raw) > MAX_BOARD_ENTRIES:
            raise DecodeError("a peer board's entries are a short array")
        entries = []
        for fields in raw:
            if not isinstance(fields, list) or len(fields) != 4:
                raise DecodeError("a peer announcement is an array of 4 fields")
            entries.append(decoded(PeerAnnouncement, fields))
        return decoded(cls, [bucket, tuple(entries)])


def make_peer_announcement(key: KeyPair, url: str, seq: int) -> PeerAnnouncement:
    """`key`'s signed announcement that its public gateway is at `url`, as of `seq`."""
    unsigned = PeerAnnouncement(key.public_key, url, seq, bytes(64))
    return PeerAnnouncement(key.public_key, url, seq, key.sign(unsigned.signed_bytes()))


def _validate(board: PeerBoard) -> PeerBoard:
    """Raise unless every entry is signed by its key, on its key's board, once."""
    keys = [entry.public_key for entry in board.entries]
    if len(set(keys)) != len(keys):
        raise RecordError("a key appears twice on a peer board", code="peer_board_invalid")
    for entry in board.entries:
        if bucket_of(entry.public_key) != board.bucket:
            raise RecordError("an entry is on another key's board", code="peer_board_invalid")
        if not entry.is_signed():
            raise RecordError(
                "a peer announcement is not signed by its key", code="peer_signature_invalid"
            )
    if len(board.to_wire_bytes()) > MAX_VALUE_BYTES:
        raise RecordError(f"peer board over {MAX_VALUE_BYTES} bytes", code="record_too_large")
    return board


def merge_peer_boards(a: PeerBoard, b: PeerBoard) -> PeerBoard:
    """The join of two valid boards: the newest entry per key, then the newest entries
    that fit (at most MAX_BOARD_ENTRIES, within MAX_VALUE_BYTES)."""
    if a.bucket != b.bucket:
        raise RecordError("two peer boards of different buckets", code="peer_board_invalid")
    newest: dict[bytes, PeerAnnouncement] = {}
    for entry in (*a.entries, *b.entries):
        held = newest.get(entry.public_key)
        if held is None or entry.order() > held.order():
            newest[entry.public_key] = entry
    ranked = sorted(newest.values(), key=PeerAnnouncement.order, reverse=True)
    kept = ranked[:MAX_BOARD_ENTRIES]
    while len(PeerBoard(a.bucket, tuple(kept)).to_wire_bytes()) > MAX_VALUE_BYTES:
        kept.pop()  # the oldest goes first
    return PeerBoard(a.bucket, tuple(kept))


def accept_peer_board(current: PeerBoard | None, incoming: PeerBoard) -> PeerBoard:
    """What a storing node keeps after a STORE: `current` merged with `incoming` once that
    is valid; raises RecordError otherwise."""
    _validate(incoming)
    return incoming if current is None else merge_peer_boards(current, incoming)


def sample_boards(
    boards: Iterable[PeerBoard],
    *,
    now: int,
    exclude: bytes,
    max_age_s: int,
    skew_s: int,
    seen: Mapping[bytes, float],
) -> list[PeerAnnouncement]:
    """What a reader makes of the boards it fetched: the entries on their own key's board
    (a replica's answer is not trusted to hold only those), not `exclude`'s (its own),
    seq within [now - max_age_s, now + skew_s], signed; then `sample_announcements`."""
    checked = [
        entry
        for board in boards
        for entry in board.entries
        if bucket_of(entry.public_key) == board.bucket
        and entry.public_key != exclude
        and now - max_age_s <= entry.seq <= now + skew_s
        and entry.is_signed()
    ]
    return sample_announcements(checked, seen)


def url_prefix(url: str) -> str:
    """Which network a gateway URL counts under: an IPv4 host's /24, an IPv6 host's /48,
    a loopback host with its port (the nodes of a devnet), a name's last two labels (three
    under a short second-level label such as co.uk). Names are not resolved (pure)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        labels = host.rstrip(".").split(".")
        keep = 3 if len(labels) >= 3 and len(labels[-2]) <= 3 else 2
        return ".".join(labels[-keep:])
    if ip.is_loopback:
        return f"{host}:{parts.port}"
    bits = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


def sample_announcements(
    entries: Iterable[PeerAnnouncement],
    seen: Mapping[bytes, float],
    limit: int = MAX_SAMPLE,
    per_prefix: int = MAX_PER_PREFIX,
) -> list[PeerAnnouncement]:
    """A spread-out sample of checked announcements: the newest entry of each signer; the
    signers in `seen` (public key → when last heard from) first, most recently heard first,
    then the others newest first; at most `per_prefix` per url_prefix, `limit` in all."""
    newest: dict[bytes, PeerAnnouncement] = {}
    for entry in entries:
        held = newest.get(entry.public_key)
        if held is None or entry.order() > held.order():
            newest[entry.public_key] = entry

    def rank(entry: PeerAnnouncement) -> tuple[bool, float, tuple[int, bytes, bytes, str]]:
        heard = seen.get(entry.public_key)
        return (heard is not None, heard or 0.0, entry.order())

    picked: list[PeerAnnouncement] = []
    taken: Counter[str] = Counter()
    for entry in sorted(newest.values(), key=rank, reverse=True):
        prefix = url_prefix(entry.url)
        if taken[prefix] < per_prefix and len(picked) < limit:
            taken[prefix] += 1
            picked.append(entry)
    return picked
