"""Multibase text forms used by Data Integrity and did:key: base58btc (`z`) and base64url (`u`)."""

from __future__ import annotations

import base64
import binascii
import re

from .errors import DecodeError

__all__ = [
    "b58decode",
    "b58encode",
    "b64url_decode",
    "b64url_encode",
    "multibase_decode",
    "multibase_encode_b58",
]

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {char: value for value, char in enumerate(_B58_ALPHABET)}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# Nothing we decode is legitimately longer: a signature is 88 characters.
MAX_MULTIBASE_CHARS = 4096


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, rest = divmod(number, 58)
        digits.append(_B58_ALPHABET[rest])
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + "".join(reversed(digits))


def b58decode(text: str) -> bytes:
    if len(text) > MAX_MULTIBASE_CHARS:
        raise DecodeError("base58 text is too long", code="multibase_invalid")
    number = 0
    for char in text:
        value = _B58_INDEX.get(char)
        if value is None:
            raise DecodeError(f"{char!r} is not a base58btc character", code="multibase_invalid")
        number = number * 58 + value
    leading_zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * leading_zeros + body


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict unpadded base64url, as JOSE and multibase `u` use it."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise DecodeError("base64url text must be unpadded and url-safe", code="base64_invalid")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise DecodeError("invalid base64url text", code="base64_invalid") from exc
    if b64url_encode(data) != text:  # unused trailing bits set: not the canonical form
        raise DecodeError("base64url text is not canonical", code="base64_invalid")
    return data


def multibase_encode_b58(data: bytes) -> str:
    return "z" + b58encode(data)


def multibase_decode(text: str) -> bytes:
    """Decode a multibase string in base58btc (`z`) or base64url (`u`)."""
    if not isinstance(text, str) or not text:
        raise DecodeError("multibase value must be a non-empty string", code="multibase_invalid")
    prefix, body = text[0], text[1:]
    if prefix == "z":
        return b58decode(body)
    if prefix == "u":
        return b64url_decode(body)
    raise DecodeError(f"unsupported multibase prefix {prefix!r}", code="multibase_invalid")
