"""The shape of OB 2.0 / 1.x nodes: what kind a document is, and the members an Assertion,
a BadgeClass and an Issuer must have (OB 2.0 sections "Assertion", "BadgeClass", "Profile";
OB 1.0 for documents without @context)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .errors import BadgeChainError
from .ob2_checks import (
    check_extensions,
    check_recipient_shape,
    check_types,
    is_url,
    parse_ob_date,
    types_of,
)
from .ob2_links import verification_kind

__all__ = [
    "ISSUER_TYPES",
    "assertion_dates",
    "assertion_shape",
    "badge_class_shape",
    "hosted_url",
    "issuer_shape",
    "node_kind",
    "verification_of",
]

ISSUER_TYPES = frozenset({"Issuer", "Profile"})


def _invalid(message: str) -> BadgeChainError:
    return BadgeChainError(message, code="ob2_structure_invalid")


def node_kind(node: dict[str, Any], version: str) -> str:
    """ "assertion", "badge_class", "issuer" or "other" (another OB class, or an extension's)."""
    types = set(types_of(node))
    if version == "1.0" and "type" not in node:  # OB 1.0 names no types: read the members
        if "recipient" in node:
            return "assertion"
        return "badge_class" if "criteria" in node else "issuer" if "url" in node else "other"
    if "Assertion" in types:
        return "assertion"
    if "Endorsement" in types:
        return "endorsement"
    return "badge_class" if "BadgeClass" in types else "issuer" if ISSUER_TYPES & types else "other"


def assertion_shape(node: dict[str, Any], version: str) -> str | None:
    """Check an Assertion's members; the code of a warning (an extension not validated)."""
    legacy = version == "1.0"
    if not isinstance(node.get("uid" if legacy else "id"), str):
        raise _invalid(f"the assertion has no {'uid' if legacy else 'id'}")
    check_recipient_shape(node.get("recipient"), legacy=legacy)
    badge = node.get("badge")
    if not (is_url(badge) or (isinstance(badge, dict) and not legacy)):
        raise _invalid("the assertion names no badge class")
    verification_of(node)
    assertion_dates(node, version)
    image = node.get("image")
    image = image.get("id") if isinstance(image, dict) else image
    if isinstance(image, str) and image.strip().lower().startswith("data:"):
        raise BadgeChainError(  # 1EdTech: the assertion image is the baked image's URL
            "the assertion image is a data: URI; it must be the URL of the baked image",
            code="image_data_uri",
        )
    return check_extensions(node)


def verification_of(node: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """("hosted" | "signed", the verification object); OB 1.0 calls it `verify`."""
    verification = node.get("verification", node.get("verify"))
    if not isinstance(verification, dict):
        raise _invalid("the assertion names no verification")
    return verification_kind(verification), verification


def hosted_url(node: dict[str, Any], version: str) -> str:
    """Where a hosted assertion lives: its id (OB 2.0, 1.1), else `verify.url` (OB 1.0)."""
    _, verification = verification_of(node)
    own = node.get("id")
    url = own if is_url(own) and version != "1.0" else verification.get("url")
    if not isinstance(url, str) or not is_url(url):
        raise BadgeChainError(
            "a hosted assertion must name its HTTP URL", code="hosted_url_missing"
        )
    return url


def assertion_dates(node: dict[str, Any], version: str) -> tuple[datetime, datetime | None]:
    legacy = version == "1.0"
    if "issuedOn" not in node:
        raise _invalid("the assertion has no issuedOn")
    issued = parse_ob_date(node["issuedOn"], "issuedOn", legacy=legacy)
    expires_at = node.get("expires")
    expires = None if expires_at is None else parse_ob_date(expires_at, "expires", legacy=legacy)
    return issued, expires


def badge_class_shape(badge: dict[str, Any], *, strict: bool, context_of: dict[str, Any]) -> None:
    if strict and "BadgeClass" not in check_types(badge, context_of, "badge class"):
        raise BadgeChainError(
            "the badge is not of type BadgeClass", code="badge_class_type_invalid"
        )
    for name in ("name", "criteria", "issuer"):
        if badge.get(name) in (None, ""):
            raise _invalid(f"the badge class has no {name}")


def issuer_shape(issuer: dict[str, Any], *, strict: bool, context_of: dict[str, Any]) -> None:
    if strict and not ISSUER_TYPES & set(check_types(issuer, context_of, "issuer")):
        raise BadgeChainError(
            "the issuer is not of type Issuer or Profile", code="issuer_type_invalid"
        )
    if not isinstance(issuer.get("name"), str):
        raise _invalid("the issuer has no name")
