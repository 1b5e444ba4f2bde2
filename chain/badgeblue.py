"""badge.blue award records (atproto `blue.badge.award`): an ES256 (P-256) signature over the
DAG-CBOR encoding of the record without its `proof`, by a key named `JWKS-URL#kid`.

DAG-CBOR here is the deterministic subset the records use: strings, integers, booleans, null,
lists and string-keyed maps, keys sorted by encoded length then bytes (cbor2's canonical mode
sorts exactly so). Floats are refused: DAG-CBOR has only 64-bit floats and atproto none at all.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .errors import BadgeChainError
from .jsonio import parse_json
from .report import CLOCK_SKEW, Check, Report, finish_report
from .resolve import Resolvers, Unreachable
from .structure import parse_date_time

__all__ = ["AWARD_TYPE", "dag_cbor", "is_award_record", "signed_bytes", "verify_award"]

AWARD_TYPE = "blue.badge.award"
MAX_JWKS_BYTES = 64 * 1024
MAX_JWKS_KEYS = 64


def is_award_record(document: object) -> bool:
    return isinstance(document, dict) and document.get("$type") == AWARD_TYPE


def dag_cbor(value: Any) -> bytes:
    """DAG-CBOR bytes of a JSON-like value; raises BadgeChainError for what it cannot hold."""
    _check_encodable(value, depth=0)
    try:
        return cbor2.dumps(value, canonical=True)
    except (cbor2.CBOREncodeError, UnicodeEncodeError) as exc:  # a lone surrogate, say
        raise BadgeChainError(
            f"the record has no DAG-CBOR form: {exc}", code="badgeblue_record_invalid"
        ) from exc


def signed_bytes(record: dict[str, Any]) -> bytes:
    """What the issuer signs: the record without `proof`."""
    return dag_cbor({key: value for key, value in record.items() if key != "proof"})


def verify_award(record: dict[str, Any], *, now: datetime, resolvers: Resolvers) -> Report:
    checks = [Check("input", "passed", "ok", "read as a badge.blue award record")]
    checks.append(Check("vc_model", "skipped", "not_a_vc", "an atproto record, not a VC"))
    steps: tuple[tuple[str, Callable[[], Check]], ...] = (
        ("ob_structure", lambda: _structure(record)),
        ("proof", lambda: _proof(record, resolvers)),
        ("validity", lambda: _validity(record, now)),
        ("trust", lambda: _trust(record, resolvers)),
    )
    for name, step in steps:
        try:
            checks.append(step())
        except Unreachable as exc:
            checks.append(Check(name, "skipped", exc.code, exc.message, blocking=True))
        except BadgeChainError as exc:
            checks.append(Check(name, "failed", exc.code, exc.message))
    checks.append(
        Check(
            "issuer_key",
            "skipped",
            "issuer_key_unconfirmed",
            "the key is the one the JWKS URL serves; its tie to the badge's issuer is not checked",
        )
    )
    checks += [
        Check("uid", "skipped", "uid_not_applicable", "a badge.blue record has no BadgeChain UID"),
        Check("chain", "passed", "no_chain", "no linked badge"),
        Check("bns", "skipped", "bns_not_applicable", "a badge.blue record"),
        Check("revocation", "skipped", "no_revocation", "badge.blue records carry no revocation"),
        Check("status", "passed", "no_status", "the record has no status entry"),
    ]
    return finish_report("badgeblue", None, checks, record)


def _trust(record: dict[str, Any], resolvers: Resolvers) -> Check:
    if resolvers.trust is None:
        return Check("trust", "skipped", "no_policy", "no local trust registry")
    return resolvers.trust.check(str(record.get("did")))  # the issuer's DID (atproto)


def _structure(record: dict[str, Any]) -> Check:
    badge, proof = record.get("badge"), record.get("proof")
    if not isinstance(badge, dict) or not all(
        isinstance(badge.get(name), str) for name in ("uri", "cid", "name")
    ):
        raise BadgeChainError("badge must name uri, cid and name", code="badgeblue_record_invalid")
    if not isinstance(record.get("did"), str) or not isinstance(record.get("issued"), str):
        raise BadgeChainError("the record needs did and issued", code="badgeblue_record_invalid")
    if not isinstance(proof, dict) or not all(isinstance(proof.get(n), str) for n in "ks"):
        raise BadgeChainError("proof must carry k and s", code="proof_missing")
    return Check("ob_structure", "passed", "ok", "blue.badge.award structure is sound")


def _proof(record: dict[str, Any], resolvers: Resolvers) -> Check:
    proof = record.get("proof")
    if not isinstance(proof, dict):
        raise BadgeChainError("the record has no proof", code="proof_missing")
    key = _jwks_key(str(proof.get("k")), resolvers)
    signature = _signature(proof.get("s"))
    try:
        key.verify(signature, signed_bytes(record), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise BadgeChainError(
            "the signature does not match the record", code="signature_invalid"
        ) from exc
    return Check("proof", "passed", "ok", "ES256 signature over the DAG-CBOR record verified")


def _jwks_key(reference: str, resolvers: Resolvers) -> ec.EllipticCurvePublicKey:
    url, _, kid = reference.partition("#")
    if not url.startswith("https://") or not kid or len(reference) > 2048:
        raise BadgeChainError(
            "proof.k must be an https JWKS URL#kid", code="verification_method_invalid"
        )
    if resolvers.documents is None:
        raise Unreachable(
            f"offline: the issuer's JWKS at {url:.100} was not fetched", code="no_resolver"
        )
    fetched = resolvers.documents(url)
    if fetched is None:
        raise BadgeChainError(f"no JWKS at {url:.100}", code="jwks_not_found")
    if len(fetched.body) > MAX_JWKS_BYTES:
        raise BadgeChainError("the JWKS is too large", code="jwks_invalid")
    jwks = parse_json(fetched.body)
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or len(keys) > MAX_JWKS_KEYS:
        raise BadgeChainError("the JWKS has no key list", code="jwks_invalid")
    match = next((key for key in keys if isinstance(key, dict) and key.get("kid") == kid), None)
    if match is None:
        raise BadgeChainError(
            f"the JWKS has no key {kid!r:.60}", code="verification_method_unknown"
        )
    return _p256_key(match)


def _p256_key(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise BadgeChainError("the key is not a P-256 EC key", code="jwks_invalid")
    try:
        x, y = (int.from_bytes(_b64url(jwk.get(name), 32), "big") for name in ("x", "y"))
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError as exc:  # not a point on the curve
        raise BadgeChainError("the JWK is not a P-256 point", code="jwks_invalid") from exc


def _signature(value: object) -> bytes:
    """A JOSE ES256 signature (r ‖ s, 64 bytes) as the DER form `cryptography` verifies."""
    raw = _b64url(value, 64)
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def _b64url(value: object, size: int) -> bytes:
    if not isinstance(value, str) or len(value) > 4 * size:
        raise BadgeChainError("a base64url value is malformed", code="proof_value_invalid")
    try:
        data = base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadgeChainError("a base64url value is malformed", code="proof_value_invalid") from exc
    if len(data) != size:
        raise BadgeChainError(f"expected {size} bytes, got {len(data)}", code="proof_value_invalid")
    return data


def _validity(record: dict[str, Any], now: datetime) -> Check:
    issued = record.get("issued")
    instant = parse_date_time(issued, zone_required=True) if isinstance(issued, str) else None
    if instant is None:
        raise BadgeChainError("issued is not a date-time with a zone", code="date_invalid")
    if datetime.fromtimestamp(instant[0], UTC) > now.astimezone(UTC) + CLOCK_SKEW:
        raise BadgeChainError("issued in the future", code="not_yet_valid")
    return Check("validity", "passed", "ok", "issued in the past")


def _check_encodable(value: Any, depth: int) -> None:
    if depth > 32:
        raise BadgeChainError("the record is nested too deeply", code="badgeblue_record_invalid")
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise BadgeChainError("DAG-CBOR map keys are strings", code="badgeblue_record_invalid")
        for item in value.values():
            _check_encodable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_encodable(item, depth + 1)
    elif isinstance(value, int) and not -(2**64) <= value < 2**64:
        raise BadgeChainError("DAG-CBOR integers fit 64 bits", code="badgeblue_record_invalid")
    elif isinstance(value, float) or not isinstance(value, str | int | bool | type(None)):
        raise BadgeChainError(
            f"a {type(value).__name__} has no DAG-CBOR form here", code="badgeblue_record_invalid"
        )
