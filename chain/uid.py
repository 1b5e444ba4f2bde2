"""A badge's UID: the 64-byte Ed25519 signature of its issuer's proof, one type for every
package (the BNS keys records by it, the node stores badges by it).

In text a UID is that proofValue, multibase base58btc ('z…'), optionally as `urn:bns:` + it.
"""

from __future__ import annotations

from typing import Final, NewType

from .errors import DecodeError
from .multibase import multibase_decode, multibase_encode_b58

__all__ = ["UID_BYTES", "URN_PREFIX", "Uid", "parse_uid", "uid_text"]

Uid = NewType("Uid", bytes)
UID_BYTES: Final = 64
URN_PREFIX: Final = "urn:bns:"
_MAX_TEXT_CHARS: Final = 100  # base58 of 64 bytes is at most 88 characters, plus 'z'


def parse_uid(text: str) -> Uid:
    """The UID `text` names; DecodeError (`uid_invalid`) for anything else."""
    text = text.removeprefix(URN_PREFIX)
    if not text.startswith("z") or len(text) > _MAX_TEXT_CHARS:
        raise DecodeError("a UID is the badge's proofValue: 'z' and base58", code="uid_invalid")
    try:
        raw = multibase_decode(text)
    except DecodeError as exc:
        raise DecodeError(f"not a UID: {exc.message}", code="uid_invalid") from exc
    if len(raw) != UID_BYTES:
        raise DecodeError("a UID is a 64-byte signature", code="uid_invalid")
    return Uid(raw)


def uid_text(uid: Uid) -> str:
    """The UID as badges and URLs write it: multibase base58btc."""
    return multibase_encode_b58(uid)
