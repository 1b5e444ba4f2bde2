"""Lexical forms of the VC and OB 3.0 data models (XML Schema dates, URIs, language codes)
and the scalar kinds of OB 3.0 fields: each kind answers None or the (code, message) of why
a value is not of it."""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "COMPACT_JWS_PATTERN",
    "COUNTRY_CODE_PATTERN",
    "LANGUAGE_PATTERN",
    "URI_PATTERN",
    "Instant",
    "Outcome",
    "is_uri",
    "kind_bool",
    "kind_date",
    "kind_date_time",
    "kind_enum",
    "kind_float",
    "kind_iri",
    "kind_pattern",
    "kind_string",
    "objects_of",
    "parse_date_time",
    "strings_of",
]

# XML Schema 1.1 dateTime (VC 2.0 §4.9 wants dateTimeStamp: the same with a mandatory zone).
# Years are limited to 9 digits so that they stay small integers.
_DATE_TIME = re.compile(
    r"(-?(?:[1-9][0-9]{3,8}|0[0-9]{3}))-([0-9]{2})-([0-9]{2})"
    r"T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_DATE = re.compile(r"(-?(?:[1-9][0-9]{3,8}|0[0-9]{3}))-([0-9]{2})-([0-9]{2})")
# RFC 3986 absolute URI (IRIs allowed): a scheme, a colon, and no space, quote or control.
URI_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`\x00-\x1f\x7f]*")
LANGUAGE_PATTERN = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")  # BCP 47, well-formed enough
# OB 3.0 CompactJws: header, payload (may be empty) and signature, base64url.
COMPACT_JWS_PATTERN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+")
_EXTENSION_TERM = re.compile(r"ext:[A-Za-z0-9._-]+")  # OB 3.0 "Extending Enumerated Vocabularies"
COUNTRY_CODE_PATTERN = re.compile(r"[A-Za-z]{2}")  # ISO 3166-1 alpha-2

Instant = tuple[int, str]  # seconds since 1970-01-01T00:00:00Z, then the fraction's digits


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar, for any year."""
    if month <= 2:
        year -= 1  # count from March, so that the leap day ends the year
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _valid_day(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12 or day < 1:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    return day <= days


def _zone_minutes(zone: str) -> int | None:
    if zone == "Z":
        return 0
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if minutes > 59 or hours > 14 or (hours == 14 and minutes):
        return None
    return (hours * 60 + minutes) * (-1 if zone[0] == "-" else 1)


def parse_date_time(value: str, *, zone_required: bool) -> Instant | None:
    """The instant of an XML Schema dateTime (dateTimeStamp when `zone_required`), or None.
    A value without a zone is placed at UTC; it is only compared when zones are required."""
    match = _DATE_TIME.fullmatch(value)
    if match is None or (zone_required and match[8] is None):
        return None
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    fraction = (match[7] or "").rstrip("0")
    end_of_day = (hour, minute, second, fraction) == (24, 0, 0, "")  # XSD 1.1 allows 24:00:00
    if not _valid_day(year, month, day) or minute > 59 or second > 59:
        return None
    if hour > 23 and not end_of_day:
        return None
    zone = _zone_minutes(match[8]) if match[8] else 0
    if zone is None:
        return None
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return seconds - zone * 60, fraction


def _is_date(value: str) -> bool:
    match = _DATE.fullmatch(value)
    return match is not None and _valid_day(int(match[1]), int(match[2]), int(match[3]))


def is_uri(value: object) -> bool:
    return isinstance(value, str) and URI_PATTERN.fullmatch(value) is not None


def strings_of(value: object) -> list[str] | None:
    """A `type`-like value as a list of its strings; None when it is neither string nor list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return None


def objects_of(value: object) -> list[object] | None:
    """An "object or set of objects" value as a list; None when it is neither. An empty
    array is an empty set: in JSON-LD it is the same as leaving the property out."""
    if isinstance(value, dict):
        return [value]
    return list(value) if isinstance(value, list) else None


# -- scalar kinds of OB 3.0 fields ---------------------------------------------------------

Outcome = tuple[str, str] | None  # (code, message) of a scalar that fails, or None


def kind_string(value: object) -> Outcome:
    return None if isinstance(value, str) else ("ob_field_type", "must be a string")


def kind_iri(value: object) -> Outcome:
    if not isinstance(value, str):
        return "ob_field_type", "must be a string"
    return None if value else ("ob_field_format", "must not be empty")


def kind_pattern(pattern: re.Pattern[str], what: str) -> Callable[[object], Outcome]:
    def check(value: object) -> Outcome:
        if not isinstance(value, str):
            return "ob_field_type", "must be a string"
        return None if pattern.fullmatch(value) else ("ob_field_format", f"must be {what}")

    return check


def kind_date_time(*, zone_required: bool) -> Callable[[object], Outcome]:
    what = "a date-time with a time zone" if zone_required else "a date-time"

    def check(value: object) -> Outcome:
        if not isinstance(value, str):
            return "ob_field_type", "must be a string"
        ok = parse_date_time(value, zone_required=zone_required) is not None
        return None if ok else ("ob_field_format", f"must be {what}")

    return check


def kind_date(value: object) -> Outcome:
    if not isinstance(value, str):
        return "ob_field_type", "must be a string"
    return None if _is_date(value) else ("ob_field_format", "must be a date (YYYY-MM-DD)")


def kind_float(value: object) -> Outcome:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return None if ok else ("ob_field_type", "must be a number")


def kind_bool(value: object) -> Outcome:
    return None if isinstance(value, bool) else ("ob_field_type", "must be true or false")


def kind_enum(terms: frozenset[str], *, extensible: bool) -> Callable[[object], Outcome]:
    def check(value: object) -> Outcome:
        if not isinstance(value, str):
            return "ob_field_type", "must be a string"
        if value in terms or (extensible and _EXTENSION_TERM.fullmatch(value)):
            return None
        more = " or an extension term ext:Name" if extensible else ""
        return "ob_field_value", f"{value[:60]!r} is not a term of the vocabulary{more}"

    return check
