"""The node id puzzle (S/Kademlia's crypto puzzle, adapted): ids cost work to place.

A node's DHT id is the first 160 bits of sha256(tag ‖ public key ‖ nonce), and the nonce is
valid only when the remaining 96 bits of that digest start with `difficulty` zero bits. The
id and the proof come from one hash, so an honest node pays 2^difficulty hashes once per key
(and keeps the nonce), while an attacker who wants an id sharing b leading bits with a chosen
key pays 2^(b + difficulty): the work multiplies, it does not add. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = [
    "DEFAULT_ID_DIFFICULTY",
    "ID_BYTES",
    "NONCE_BYTES",
    "id_puzzle_bits",
    "node_id_of",
    "solve_id_puzzle",
    "solves_id_puzzle",
]

ID_BYTES: Final = 20  # kademlia's key space is 160 bits
NONCE_BYTES: Final = 8
# 2^20 sha256 in CPython take about 0.5 s on one core (2.2M/s measured); see docs/bns.md.
DEFAULT_ID_DIFFICULTY: Final = 20
DOMAIN_NODE_ID: Final = b"badgechain/dht/node-id/v2\x00"


def _digest(public_key: bytes, nonce: bytes) -> bytes:
    return hashlib.sha256(DOMAIN_NODE_ID + public_key + nonce).digest()


def node_id_of(public_key: bytes, nonce: bytes) -> bytes:
    return _digest(public_key, nonce)[:ID_BYTES]


def _zero_bits(proof: bytes) -> int:
    value = int.from_bytes(proof, "big")
    return len(proof) * 8 - value.bit_length()


def id_puzzle_bits(public_key: bytes, nonce: bytes) -> int:
    """How many leading zero bits the proof part of the digest has."""
    return _zero_bits(_digest(public_key, nonce)[ID_BYTES:])


def solves_id_puzzle(public_key: bytes, nonce: bytes, difficulty: int) -> bool:
    return len(nonce) == NONCE_BYTES and id_puzzle_bits(public_key, nonce) >= difficulty


def solve_id_puzzle(public_key: bytes, difficulty: int, start: int = 0) -> bytes:
    """The first nonce from `start` on that solves the puzzle for `public_key`."""
    prefix = hashlib.sha256(DOMAIN_NODE_ID + public_key)
    counter = start
    while True:
        nonce = counter.to_bytes(NONCE_BYTES, "big")
        attempt = prefix.copy()
        attempt.update(nonce)
        if _zero_bits(attempt.digest()[ID_BYTES:]) >= difficulty:
            return nonce
        counter += 1
