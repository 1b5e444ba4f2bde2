"""Blockcerts Merkle receipts: MerkleProof2019 (CBOR in a multibase proofValue), MerkleProof2017
and Chainpoint v2, and the walk from a document's hash up to the anchored Merkle root.

Keys of the compressed 2019 form, from the LD Merkle Proof 2019 draft ("keymap"): 0 merkleRoot,
1 targetHash, 2 anchors, 3 path (0 left, 1 right); an anchor is 0 chain, 1 network, 2 tx.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import Any, Literal

import cbor2

from .errors import BadgeChainError
from .multibase import multibase_decode

__all__ = [
    "Anchor",
    "MerkleReceipt",
    "decode_merkle_proof_2019",
    "read_merkle_proof_2017",
    "root_from_path",
]

MAX_PROOF_BYTES = 16 * 1024
MAX_PATH_STEPS = 64  # a tree of 2**64 leaves is more than any batch
MAX_ANCHORS = 8
_CHAINS = {0: "bitcoin", 1: "ethereum", -1: "mocknet"}
_NETWORKS = {
    "bitcoin": {1: "mainnet", 3: "testnet"},
    "ethereum": {1: "mainnet", 3: "ropsten", 4: "rinkeby", 5: "goerli", 11155111: "sepolia"},
}
Side = Literal["left", "right"]


@dataclass(frozen=True, slots=True)
class Anchor:
    chain: str  # "bitcoin", "ethereum", "mocknet", or "chain <code>"
    network: str
    transaction: str

    @property
    def is_mock(self) -> bool:
        """A test anchor: nothing was written to any blockchain, nothing can be looked up."""
        return "mock" in self.chain

    def describe(self) -> str:
        return f"{self.chain}/{self.network} transaction {self.transaction:.80}"


@dataclass(frozen=True, slots=True)
class MerkleReceipt:
    target_hash: bytes
    merkle_root: bytes
    path: tuple[tuple[Side, bytes], ...]
    anchors: tuple[Anchor, ...]


class ReceiptError(BadgeChainError):
    code = "blockcerts_proof_invalid"


def root_from_path(target: bytes, path: tuple[tuple[Side, bytes], ...]) -> bytes:
    """Hash the target up the tree: each step's sibling sits on its named side (Chainpoint)."""
    node = target
    for side, sibling in path:
        pair = sibling + node if side == "left" else node + sibling
        node = hashlib.sha256(pair).digest()
    return node


def decode_merkle_proof_2019(proof_value: object) -> MerkleReceipt:
    """The receipt in a MerkleProof2019 / merkle-proof-2019 proofValue; raises ReceiptError."""
    if not isinstance(proof_value, str) or len(proof_value) > 2 * MAX_PROOF_BYTES:
        raise ReceiptError("proofValue must be a multibase string of reasonable size")
    try:
        fields = dict(_pair_list(cbor2.loads(multibase_decode(proof_value)), 8))
        path = tuple(_path_step(*step) for step in _pair_list(fields.get(3, []), MAX_PATH_STEPS))
        anchors = tuple(
            _anchor_2019(dict(_pair_list(item, 4)))
            for item in _bounded_list(fields.get(2), MAX_ANCHORS)
        )
        if not anchors:
            raise ReceiptError("the Merkle proof names no anchor")
        return MerkleReceipt(_hash(fields.get(1)), _hash(fields.get(0)), path, anchors)
    except ReceiptError:
        raise
    except (BadgeChainError, cbor2.CBORDecodeError, ValueError, TypeError) as exc:
        raise ReceiptError(f"the Merkle proof cannot be decoded: {exc}") from exc


def read_merkle_proof_2017(receipt: dict[str, Any]) -> MerkleReceipt:
    """A Blockcerts v2 `signature` (MerkleProof2017) or v1.2 `receipt` (ChainpointSHA256v2)."""
    steps = _bounded_list(receipt.get("proof", []), MAX_PATH_STEPS)
    path: list[tuple[Side, bytes]] = []
    for step in steps:
        if (
            not isinstance(step, dict)
            or len(step) != 1
            or next(iter(step)) not in ("left", "right")
        ):
            raise ReceiptError("each proof step must name one left or right sibling")
        side: Side = "left" if "left" in step else "right"
        path.append((side, _hash(step[side])))
    anchors = []
    for item in _bounded_list(receipt.get("anchors"), MAX_ANCHORS):
        if not isinstance(item, dict):
            raise ReceiptError("an anchor must be an object")
        anchors.append(_anchor_2017(item))
    if not anchors:
        raise ReceiptError("the Merkle proof names no anchor")
    return MerkleReceipt(
        _hash(receipt.get("targetHash")),
        _hash(receipt.get("merkleRoot")),
        tuple(path),
        tuple(anchors),
    )


def _pair_list(value: object, limit: int) -> list[tuple[Any, Any]]:
    """The compressed form's list of [key, value] pairs (a path repeats keys: kept in order)."""
    items = _bounded_list(value, limit)
    if not all(isinstance(item, list) and len(item) == 2 for item in items):
        raise ReceiptError("the Merkle proof is not a list of [key, value] pairs")
    return [(item[0], item[1]) for item in items]


def _bounded_list(value: object, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise ReceiptError("the Merkle proof has a malformed list")
    if len(value) > limit:
        raise ReceiptError(f"the Merkle proof has more than {limit} items in a list")
    return value


def _path_step(key: object, value: object) -> tuple[Side, bytes]:
    if key not in (0, 1):
        raise ReceiptError("a path step must be left (0) or right (1)")
    return ("left" if key == 0 else "right"), _hash(value)


def _hash(value: object) -> bytes:
    """A SHA-256 value: hex text, or (2019 form) CBOR bytes holding hex text or 32 raw bytes."""
    if isinstance(value, bytes):
        value = cbor2.loads(value) if len(value) <= 128 else value
    if isinstance(value, str) and len(value) == 64:
        with contextlib.suppress(ValueError):
            value = bytes.fromhex(value)
    if not isinstance(value, bytes) or len(value) != 32:
        raise ReceiptError("a Merkle hash must be 32 bytes (64 hex digits)")
    return value


def _text(value: object) -> str:
    if isinstance(value, bytes) and len(value) <= 256:
        value = cbor2.loads(value)
    if isinstance(value, bytes):
        value = value.hex()
    return str(value)[:200]


def _anchor_2019(fields: dict[int, Any]) -> Anchor:
    code = fields.get(0)
    chain = _CHAINS.get(code, f"chain {code!r:.20}") if isinstance(code, int) else "unknown"
    if chain == "mocknet":  # a mock anchor carries only a note where the transaction would be
        return Anchor(chain, "mocknet", _text(fields.get(2, fields.get(1, ""))))
    network = fields.get(1)
    named = _NETWORKS.get(chain, {}).get(network) if isinstance(network, int) else None
    return Anchor(chain, named or _text(network), _text(fields.get(2, fields.get(1, ""))))


def _anchor_2017(item: dict[str, Any]) -> Anchor:
    kind, chain = str(item.get("type", ""))[:40], str(item.get("chain", ""))[:40]
    if "mock" in chain.lower() or "mock" in kind.lower():
        name = "mocknet"
    elif kind.startswith("ETH") or chain.startswith("ethereum"):
        name = "ethereum"
    else:
        name = "bitcoin"
    network = chain.removeprefix(name).lower() or "mainnet"
    return Anchor(name, network, str(item.get("sourceId", ""))[:200])
