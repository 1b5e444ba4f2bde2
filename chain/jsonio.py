"""Bounded JSON reading: size and nesting limits are checked before the parser runs."""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import DecodeError, InputTooLarge

__all__ = ["MAX_JSON_BYTES", "MAX_JSON_DEPTH", "parse_json"]

MAX_JSON_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 48
# A bracket, or a string to its closing quote or the end of the text: every match succeeds
# once started, so one left-to-right pass is linear, whatever the input.
_TOKEN = re.compile(r'[\[\]{}]|"(?:[^"\\]|\\.|\\\Z)*(?:"|\Z)', re.DOTALL)


def parse_json(data: bytes | str, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse JSON text from outside; duplicate keys, NaN and deep nesting are refused."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise InputTooLarge(f"JSON is {len(raw)} bytes; the limit is {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("JSON is not valid UTF-8", code="json_not_utf8") from exc
    _check_depth(text)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc.msg} at line {exc.lineno}", code="json_invalid") from exc
    except ValueError as exc:  # e.g. an integer longer than Python converts (4,300 digits)
        raise DecodeError(f"not usable JSON: {exc}", code="json_invalid") from exc


def _check_depth(text: str) -> None:
    """Count bracket depth outside strings, so the parser never recurses too deep."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return  # cannot nest deeper than it has brackets: the common case, at C speed
    depth = 0
    for match in _TOKEN.finditer(text):  # not findall: stop at the limit, hold no token list
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise InputTooLarge(
                    f"JSON is nested deeper than {MAX_JSON_DEPTH} levels", code="json_too_deep"
                )
        elif token in ("]", "}"):
            depth -= 1


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DecodeError(f"duplicate JSON key {key!r:.60}", code="json_duplicate_key")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise DecodeError(f"{name} is not allowed in JSON", code="json_invalid")
