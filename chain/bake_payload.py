"""What a baked image carries (chain/bake.py, chain/bake_svg.py): the payload's kinds, its
size limits, and the checks that it is a credential (JSON object or compact JWS) or, for
OB 2.0, a hosted assertion's URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .errors import DecodeError, InputTooLarge
from .jsonio import parse_json

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_PAYLOAD_BYTES",
    "Container",
    "Encoding",
    "Kind",
    "Unbaked",
    "check_output_size",
    "check_payload_size",
    "classify_ob2",
    "classify_ob3",
    "prepare_ob3_payload",
    "unbaked",
]

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_PAYLOAD_BYTES = 1024 * 1024

Container = Literal["png", "svg"]
Kind = Literal["ob3", "ob2"]
Encoding = Literal["json", "jwt", "url"]

_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_HOSTED_URL = re.compile(r"https?://\S+")


@dataclass(frozen=True, slots=True)
class Unbaked:
    """What an image carries: OB 3.0 `json` or `jwt`; OB 2.0 `json`, `jwt` or hosted `url`."""

    container: Container
    kind: Kind
    encoding: Encoding
    payload: str


def prepare_ob3_payload(payload: str) -> tuple[str, Encoding]:
    if not isinstance(payload, str):
        raise DecodeError("payload must be text", code="payload_invalid")
    text = payload.strip()  # whitespace around JSON is insignificant; a JWS has none
    check_payload_size(text)
    return text, classify_ob3(text)


def check_payload_size(text: str) -> None:
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise DecodeError("payload is not valid Unicode text", code="payload_not_utf8") from exc
    if size > MAX_PAYLOAD_BYTES:
        raise InputTooLarge(f"payload is {size} bytes; the limit is {MAX_PAYLOAD_BYTES}")


def classify_ob3(text: str) -> Literal["json", "jwt"]:
    """OB 3.0 bakes either the credential as JSON or its VC-JWT (compact JWS)."""
    if text.startswith("{"):
        require_json_object(text)
        return "json"
    if _COMPACT_JWS.fullmatch(text):
        return "jwt"
    raise DecodeError("baked payload is not badge JSON or a compact JWS", code="payload_invalid")


def classify_ob2(text: str) -> Encoding:
    """OB 2.0 bakes a hosted assertion's URL, the assertion JSON, or a signed assertion (JWS)."""
    if _HOSTED_URL.fullmatch(text):
        return "url"
    return classify_ob3(text)


def require_json_object(text: str) -> None:
    try:
        value = parse_json(text, max_bytes=MAX_PAYLOAD_BYTES)
    except ValueError as exc:  # e.g. an integer literal past Python's digit limit
        raise DecodeError("baked JSON cannot be read", code="payload_invalid") from exc
    if not isinstance(value, dict):
        raise DecodeError("baked JSON is not an object", code="payload_invalid")


def unbaked(container: Container, kind: Kind, text: str) -> Unbaked:
    text = text.strip()
    check_payload_size(text)
    encoding = classify_ob3(text) if kind == "ob3" else classify_ob2(text)
    return Unbaked(container=container, kind=kind, encoding=encoding, payload=text)


def check_output_size(data: bytes) -> bytes:
    if len(data) > MAX_IMAGE_BYTES:
        raise InputTooLarge(
            f"baked image would be {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}"
        )
    return data
