"""Verification of a badge: a report of named checks and a verdict. Pure and total:
any input gives a report, never an exception.

Checks, in the order of the design: input → vc_model → ob_structure → issuer_key →
proof → uid → chain → bns → revocation → status → validity → trust.
This module reads the input and picks the verifier: chain.verifier runs those checks on an
OB 3.0 / W3C credential, chain.ob2 and chain.formats verify the other formats.
"""

from __future__ import annotations

from datetime import datetime

from . import bake, jose
from .errors import BadgeChainError, InputTooLarge
from .formats import verify_other_format
from .jsonio import MAX_JSON_BYTES, MAX_JSON_DEPTH, parse_json
from .ob2 import verify_ob2
from .ob2_checks import is_ob2_family
from .report import CHECK_NAMES, CLOCK_SKEW, Check, Report, finish_report
from .resolve import Resolvers
from .verifier import MAX_CHAIN_DEPTH, Verifier

__all__ = [
    "CHECK_NAMES",
    "CLOCK_SKEW",
    "MAX_CHAIN_DEPTH",
    "MAX_INPUT_BYTES",
    "Check",
    "Report",
    "input_too_large_report",
    "verify_badge",
    "verify_credential",
]

MAX_INPUT_BYTES = 10 * 1024 * 1024


def input_too_large_report() -> Report:
    """The report on an input over MAX_INPUT_BYTES, for a caller that stopped reading it."""
    message = f"input is over {MAX_INPUT_BYTES} bytes"
    return finish_report("unknown", None, [Check("input", "failed", "input_too_large", message)])


def verify_badge(
    data: bytes,
    *,
    now: datetime,
    resolvers: Resolvers | None = None,
    expected_uid: str | None = None,
    recipient: str | None = None,
) -> Report:
    """Verify a badge given as bytes: JSON, a VC-JWT, or a baked PNG or SVG.

    `recipient` (an email or other identity) is checked against an OB 2.0 badge's recipient.
    """
    try:
        if len(data) > MAX_INPUT_BYTES:
            return input_too_large_report()
        fmt, credential, jws = _read_input(data)
    except BadgeChainError as exc:
        return finish_report("unknown", None, [Check("input", "failed", exc.code, exc.message)])
    if fmt in ("json", "ob2/json"):  # Blockcerts v2 carries the OB 2.0 context
        other = _other_format(credential, now, resolvers)
        if other is not None:
            return other
    if fmt.startswith("ob2"):
        return verify_ob2(
            fmt, credential, jws, now=now, resolvers=resolvers or Resolvers(), recipient=recipient
        )
    return Verifier(now, resolvers or Resolvers(), expected_uid, fmt, jws).run(credential)


def verify_credential(
    credential: object,
    *,
    now: datetime,
    resolvers: Resolvers | None = None,
    expected_uid: str | None = None,
    fmt: str = "json",
) -> Report:
    """Verify an already parsed credential."""
    try:  # the same limits as JSON read from bytes: the caller may have parsed without them
        _check_bounds(credential)
    except BadgeChainError as exc:
        return finish_report(fmt, None, [Check("input", "failed", exc.code, exc.message)])
    other = _other_format(credential, now, resolvers)
    if other is not None:
        return other
    return Verifier(now, resolvers or Resolvers(), expected_uid, fmt, None).run(credential)


def _other_format(data: object, now: datetime, resolvers: Resolvers | None) -> Report | None:
    """Presentations, Blockcerts and badge.blue records go to their own verifiers."""
    return verify_other_format(
        data, now=now, resolvers=resolvers or Resolvers(), verify_credential=verify_credential
    )


def _read_input(data: bytes) -> tuple[str, object, jose.Jws | None]:
    start = data.lstrip()[:8]
    if data.startswith(b"\x89PNG") or start.startswith(b"<"):
        unbaked = bake.unbake(data)
        if unbaked.kind == "ob2":  # JSON, a signed JWS or a hosted URL: chain.ob2 reads it
            return f"ob2/{unbaked.container}", unbaked.payload, None
        if unbaked.encoding == "jwt":
            jws = jose.parse_compact_jws(unbaked.payload)
            return f"{unbaked.container}/vc-jwt", jose.credential_from_jwt(jws).credential, jws
        return unbaked.container, parse_json(unbaked.payload), None
    if start.startswith((b"{", b"[")) or not start:
        document = parse_json(data)
        if is_ob2_family(document):  # OB 2.0, 1.x and 0.5 JSON
            return "ob2/json", document, None
        return "json", document, None
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise BadgeChainError(
            "input is neither JSON, a VC-JWT, PNG nor SVG", code="format_unknown"
        ) from exc
    jws = jose.parse_compact_jws(token)
    if is_ob2_family(jws.payload):  # an OB 2.0 signed assertion
        return "ob2/jws", None, jws
    return "vc-jwt", jose.credential_from_jwt(jws).credential, jws


def _check_bounds(value: object) -> None:
    """Refuse a parsed value larger or deeper than parse_json would read (an estimate of its
    JSON size: string lengths plus a few bytes per item), walked without recursion."""
    size, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH and isinstance(item, dict | list):
            raise InputTooLarge(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels")
        size += len(item) + 2 if isinstance(item, str) else 4
        if size > MAX_JSON_BYTES:
            raise InputTooLarge(f"the credential is over {MAX_JSON_BYTES} bytes as JSON")
        if isinstance(item, dict):
            stack.extend((key, depth + 1) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
