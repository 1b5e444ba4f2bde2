"""The BNS wire codec: canonical msgpack values of at most one datagram, and field checks.

Shared by the records (bns/record.py) and the indexes (bns/index.py). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type information

from badgechain.chain.errors import DecodeError

from .errors import RecordError

__all__ = [
    "MAX_UINT64",
    "MAX_VALUE_BYTES",
    "WIRE_VERSION",
    "check",
    "decoded",
    "is_bytes",
    "is_uint",
    "pack",
    "unpack",
    "versioned_fields",
]

WIRE_VERSION = 1
# One datagram on any path (the IPv6 minimum MTU minus headers, as QUIC budgets it).
MAX_VALUE_BYTES = 1200
MAX_UINT64 = 2**64 - 1

_T = TypeVar("_T")


def pack(fields: list[Any]) -> bytes:
    return bytes(msgpack.packb(fields, use_bin_type=True))


def unpack(data: object) -> Any:
    """Decode one msgpack value, refusing oversize, trailing bytes and non-canonical forms."""
    if not isinstance(data, bytes | bytearray):
        raise DecodeError("a BNS value must be bytes")
    if len(data) > MAX_VALUE_BYTES:
        raise DecodeError(f"a BNS value is at most {MAX_VALUE_BYTES} bytes", code="value_too_large")
    try:
        value = msgpack.unpackb(bytes(data), raw=False, use_list=True, strict_map_key=True)
        canonical = pack(value)
    except (ValueError, TypeError, OverflowError, RecursionError, msgpack.UnpackException) as exc:
        raise DecodeError(f"not a msgpack value: {exc}") from exc
    if canonical != data:
        raise DecodeError("msgpack value is not in canonical form", code="not_canonical")
    return value


def versioned_fields(value: Any, count: int) -> list[Any]:
    """`value` as an array of `count` fields led by WIRE_VERSION, else a DecodeError."""
    if not isinstance(value, list) or len(value) != count:
        raise DecodeError(f"expected an array of {count} fields")
    if value[0] != WIRE_VERSION or isinstance(value[0], bool):
        raise DecodeError(f"unknown BNS wire version {value[0]!r:.20}", code="version_unknown")
    return value


def check(ok: bool, what: str) -> None:
    """Bounds and types of a part, checked when it is built (STYLE.md "Records on the wire")."""
    if not ok:
        raise RecordError(what, code="record_malformed")


def is_bytes(value: object, size: int) -> bool:
    return isinstance(value, bytes) and len(value) == size


def is_uint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_UINT64


def decoded(build: type[_T], fields: list[Any]) -> _T:
    """Build a part from decoded fields, turning bound violations into a DecodeError."""
    try:
        return build(*fields)
    except RecordError as exc:
        raise DecodeError(f"invalid {build.__name__}: {exc.message}") from exc
