"""What an OB 2.0 badge links to and must be checked through: the signing key of a signed
assertion or endorsement, and endorsements (each verified as an OB 2.0 Endorsement)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import jose
from .errors import BadgeChainError
from .ob2_checks import (
    check_date_order,
    hosted_in_scope,
    is_url,
    parse_ob_date,
    types_of,
    verify_jws_with_pem,
)
from .ob2_fetch import Documents
from .resolve import Unreachable

__all__ = [
    "MAX_ENDORSEMENTS",
    "key_for",
    "verification_kind",
    "verify_endorsement",
    "verify_endorsements",
]

MAX_ENDORSEMENTS = 8  # on an assertion, its badge class and its issuer together
_CLOCK_SKEW_SECONDS = 300


def _ids(value: object) -> list[str]:
    values = value if isinstance(value, list) else [] if value is None else [value]
    ids = [item.get("id") if isinstance(item, dict) else item for item in values]
    return [item for item in ids if isinstance(item, str)]


def verification_kind(verification: object) -> str:
    """Either "hosted" or "signed" (OB 2.0 also spells them HostedBadge, SignedBadge)."""
    kind = ""
    if isinstance(verification, dict):
        kind = str(verification.get("type", "")).lower().removesuffix("badge")
    if kind not in ("hosted", "signed"):
        raise BadgeChainError(
            "verification type is neither hosted nor signed", code="verification_type_invalid"
        )
    return kind


def key_for(
    run: Documents, verification: dict[str, Any], issuer: dict[str, Any], issuer_url: object
) -> dict[str, Any]:
    """The issuer's CryptographicKey named by `verification.creator`, its ownership checked:
    the key names the issuer as owner, and the issuer (when it lists keys) lists the key."""
    creator = verification.get("creator")
    if creator is None and "url" in verification:
        raise Unreachable(
            "OB 1.0 signed badges (a bare PEM at verify.url) are not verified",
            code="ob1_signed_unsupported",
        )
    if creator is None:
        listed = _ids(issuer.get("publicKey"))
        if len(listed) != 1:
            raise BadgeChainError(
                "the signed badge names no creator key", code="issuer_key_missing"
            )
        creator = listed[0]
    if not isinstance(creator, str) or not is_url(creator):
        raise BadgeChainError("verification.creator is not a URL", code="issuer_key_invalid")
    key = run.fetch_json(creator, "key")
    if key.get("id", creator) != creator:
        raise BadgeChainError("the key declares another id", code="issuer_key_mismatch")
    if "type" in key and "CryptographicKey" not in types_of(key):
        raise BadgeChainError("the key is not a CryptographicKey", code="issuer_key_invalid")
    owner = key.get("owner")
    if owner is None or owner != issuer_url or owner != issuer.get("id", owner):
        raise BadgeChainError("the key's owner is not the issuer", code="issuer_key_mismatch")
    listed = _ids(issuer.get("publicKey"))
    if listed and creator not in listed:
        raise BadgeChainError("the issuer does not list the key", code="issuer_key_mismatch")
    return key


def verify_endorsement(run: Documents, ref: object, jws: jose.Jws | None = None) -> None:
    """An OB 2.0 Endorsement (embedded, at a URL, a compact JWS, or `jws` parsed), verified
    like an assertion: type, claim, issuer, dates, and its hosted copy or its signature."""
    if jws is not None:
        document = jws.payload
    elif isinstance(ref, str) and not is_url(ref):
        jws = jose.parse_compact_jws(ref)
        document = jws.payload
    else:
        document = run.node_at(ref, "endorsement", "chain")
    if "Endorsement" not in types_of(document):
        raise BadgeChainError("not of type Endorsement", code="endorsement_type_invalid")
    if not isinstance(document.get("claim"), dict):
        raise BadgeChainError("the endorsement has no claim", code="ob2_structure_invalid")
    issuer_ref = document.get("issuer")
    issuer = run.node_at(issuer_ref, "endorsement issuer", "chain")
    if not {"Issuer", "Profile"} & set(types_of(issuer)):
        raise BadgeChainError("its issuer is not an Issuer", code="issuer_type_invalid")
    issuer_url = issuer_ref if isinstance(issuer_ref, str) else issuer.get("id")
    _check_dates(run.now, document)
    verification = document.get("verification")
    # verification_kind raises unless `verification` is a dict, so isinstance only narrows.
    if verification_kind(verification) == "signed" and isinstance(verification, dict):
        if jws is None:
            raise BadgeChainError(
                "a signed endorsement must come as its JWS", code="signature_missing"
            )
        key = key_for(run, verification, issuer, issuer_url)
        verify_jws_with_pem(jws, key.get("publicKeyPem"))
        return
    url = document.get("id")
    if jws is not None or not isinstance(url, str) or not is_url(url):
        raise BadgeChainError("a hosted endorsement must name its URL", code="hosted_url_missing")
    if run.fetch_json(url, "endorsement") != document:
        raise BadgeChainError(
            f"the endorsement hosted at {url:.80} differs", code="hosted_mismatch"
        )
    hosted_in_scope(url, issuer, issuer_url)


def verify_endorsements(run: Documents, holders: list[dict[str, Any]]) -> int:
    """Verify every endorsement the `holders` (an assertion, its badge class, its issuer)
    carry; return how many. Unreachable passes through: the answer was not to be had."""
    refs: list[object] = []
    for holder in holders:
        value = holder.get("endorsement")
        refs += value if isinstance(value, list) else [] if value is None else [value]
    if len(refs) > MAX_ENDORSEMENTS:
        raise BadgeChainError(
            f"more than {MAX_ENDORSEMENTS} endorsements", code="endorsement_invalid"
        )
    for ref in refs:
        try:
            verify_endorsement(run, ref)
        except Unreachable:
            raise
        except BadgeChainError as exc:
            raise BadgeChainError(
                f"an endorsement is not valid ({exc.code}: {exc.message})",
                code="endorsement_invalid",
            ) from exc
    return len(refs)


def _check_dates(now: datetime, document: dict[str, Any]) -> None:
    issued = parse_ob_date(document.get("issuedOn"), "issuedOn", legacy=False)
    expires_at = document.get("expires")
    expires = None if expires_at is None else parse_ob_date(expires_at, "expires", legacy=False)
    check_date_order(issued, expires)
    if (issued - now).total_seconds() > _CLOCK_SKEW_SECONDS:
        raise BadgeChainError("issued in the future", code="issued_in_future")
    if expires is not None and expires <= now:
        raise BadgeChainError(f"expired at {expires.isoformat()}", code="expired")
