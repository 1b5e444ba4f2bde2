"""Pure checks on Open Badges 2.0 / 1.x / 0.5 documents: which version a document is, its
types, dates, recipient, hosted-verification scope, revocation lists and RS256 keys in PEM.

Used by `chain.ob2`; nothing here fetches. Structure follows the OB 2.0 specification (IMS
Global, 2018) and the 1.0/1.1 specifications; JSON-LD is not expanded: an inline @context is
read only for the class names it defines.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import BadgeChainError, ProofError
from .jose import Jws

__all__ = [
    "OB2_CONTEXTS",
    "Version",
    "check_date_order",
    "check_extensions",
    "check_recipient_shape",
    "check_types",
    "hosted_in_scope",
    "is_ob2_family",
    "is_url",
    "ob_version",
    "parse_ob_date",
    "recipient_matches",
    "revoked_entry",
    "types_of",
    "verify_jws_with_pem",
]

Version = Literal["2.0", "1.1", "1.0", "0.5"]
OB2_CONTEXTS = frozenset(
    {
        "https://w3id.org/openbadges/v2",
        "http://w3id.org/openbadges/v2",
        "https://openbadgespec.org/v2/context.json",
    }
)
OB11_CONTEXT = "https://w3id.org/openbadges/v1"
_OB_NAMESPACES = (
    "https://w3id.org/openbadges",
    "http://w3id.org/openbadges",
    "https://openbadgespec.org",
)
_EXTENSION_CONTEXT = "https://w3id.org/openbadges/extensions/"
# The classes the OB 2.0 context defines (besides extension classes, named by IRI).
KNOWN_CLASSES = frozenset(
    {
        "Assertion",
        "BadgeClass",
        "Issuer",
        "Profile",
        "AlignmentObject",
        "Criteria",
        "CryptographicKey",
        "Endorsement",
        "EndorsementClaim",
        "Evidence",
        "Extension",
        "IdentityObject",
        "Image",
        "RevocationList",
        "VerificationObject",
        "HostedBadge",
        "SignedBadge",
        "hosted",
        "signed",
    }
)
_OB1_ISSUER_KEYS = frozenset({"name", "url", "description", "image", "email", "origin", "org"})
_HASHED = re.compile(r"(sha256|md5)\$([0-9a-fA-F]+)")
_MIN_RSA_BITS, _MAX_RSA_BITS = 2048, 8192
MAX_PEM_CHARS = 16 * 1024


def _contexts(document: dict[str, Any]) -> list[Any]:
    context = document.get("@context")
    return context if isinstance(context, list) else [] if context is None else [context]


def is_ob2_family(document: object) -> bool:
    """True for what OB 2.0, 1.1, 1.0 or 0.5 verifiers read (so not a W3C credential)."""
    if not isinstance(document, dict):
        return False
    if "@context" in document:
        for item in _contexts(document):
            if isinstance(item, str) and item.startswith(_OB_NAMESPACES):
                return True
            if isinstance(item, dict) and any(
                isinstance(value, str) and value.startswith(_OB_NAMESPACES)
                for value in item.values()
            ):
                return True
        return False
    keys = set(document)
    return bool(
        ("recipient" in keys and ({"badge", "verify"} & keys))
        or isinstance(document.get("verify"), dict)
        or {"name", "criteria", "issuer"} <= keys
        or ({"name", "url"} <= keys <= _OB1_ISSUER_KEYS)
    )


def ob_version(document: dict[str, Any]) -> Version:
    """The version a document is written in; an unknown openbadges context is refused."""
    contexts = _contexts(document)
    if not contexts:
        badge = document.get("badge")
        if isinstance(document.get("recipient"), str) and isinstance(badge, dict):
            return "0.5"  # 0.5 embeds the badge and names the recipient as a plain string
        if isinstance(badge, dict) and str(badge.get("version", "")).startswith("0."):
            return "0.5"
        return "1.0"
    for item in contexts:
        if (isinstance(item, str) and item in OB2_CONTEXTS) or (
            isinstance(item, dict) and _defines_ob_terms(item)
        ):
            return "2.0"
        if item == OB11_CONTEXT:
            return "1.1"
    raise BadgeChainError(
        "the @context names no Open Badges 2.0 or 1.1 context", code="ob2_context_invalid"
    )


def _defines_ob_terms(context: dict[str, Any]) -> bool:
    return any(
        isinstance(value, str) and value.startswith(_OB_NAMESPACES) for value in context.values()
    )


def types_of(node: dict[str, Any]) -> list[str]:
    value = node.get("type", node.get("@type"))
    values = value if isinstance(value, list) else [] if value is None else [value]
    return [item if isinstance(item, str) else "" for item in values]  # "": never a class


def check_types(node: dict[str, Any], context_of: dict[str, Any], what: str) -> list[str]:
    """Each type must be an OB class, a class the inline context defines, or an IRI."""
    types = types_of(node)
    if "type" in node and not types:
        raise BadgeChainError(f"the {what} has an empty type", code="ob2_type_invalid")
    defined = {term for item in _contexts(context_of) if isinstance(item, dict) for term in item}
    for name in types:
        if name in KNOWN_CLASSES or name in defined or (":" in name and " " not in name):
            continue
        raise BadgeChainError(f"the {what} has unknown type {name!r:.60}", code="ob2_type_invalid")
    return types


def parse_ob_date(value: object, name: str, *, legacy: bool) -> datetime:
    """An ISO 8601 date-time (or date); OB 1.0 also allows a Unix timestamp. No zone: UTC."""
    numeric = isinstance(value, int) and not isinstance(value, bool)
    if legacy and (numeric or (isinstance(value, str) and value.isdigit())):
        seconds = int(str(value))
        if 0 <= seconds < 2**40:
            return datetime.fromtimestamp(seconds, UTC)
    if not isinstance(value, str) or len(value) > 64:
        raise BadgeChainError(f"{name} is not a date-time", code="date_invalid")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise BadgeChainError(f"{name} {value!r:.40} is not a date", code="date_invalid") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def check_date_order(issued: datetime | None, expires: datetime | None) -> None:
    if issued is not None and expires is not None and expires < issued:
        raise BadgeChainError("it expires before it was issued", code="expires_before_issued")


def check_recipient_shape(recipient: object, *, legacy: bool) -> None:
    if not isinstance(recipient, dict):
        raise BadgeChainError("recipient is not an identity object", code="recipient_invalid")
    identity, hashed = recipient.get("identity"), recipient.get("hashed", False)
    if not isinstance(identity, str) or not identity or len(identity) > 1024:
        raise BadgeChainError("recipient has no identity", code="recipient_invalid")
    if not isinstance(recipient.get("type"), str):
        raise BadgeChainError("recipient has no type", code="recipient_invalid")
    if not isinstance(hashed, bool) or (hashed and not _HASHED.fullmatch(identity)):
        raise BadgeChainError("recipient hash is not sha256$ or md5$ hex", code="recipient_invalid")
    if not isinstance(recipient.get("salt", ""), str):
        raise BadgeChainError("recipient salt is not text", code="recipient_invalid")


def recipient_matches(recipient: dict[str, Any], expected: str) -> bool:
    """The identity is `expected`, plainly or as salted sha256/md5 (emails compare caselessly)."""
    identity = str(recipient["identity"])
    if not recipient.get("hashed", False):
        return identity.strip().casefold() == expected.strip().casefold()
    match = _HASHED.fullmatch(identity)
    if match is None:
        return False
    algorithm, digest = match.group(1), match.group(2).lower()
    salt = str(recipient.get("salt", ""))
    candidates = {expected.strip(), expected.strip().lower()}
    return any(
        hashlib.new(algorithm, (candidate + salt).encode()).hexdigest() == digest
        for candidate in candidates
    )


def is_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _host(url: object) -> str | None:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    try:
        return (urlsplit(url).hostname or "").lower() or None
    except ValueError:
        return None


def hosted_in_scope(
    url: str, issuer: dict[str, Any], anchor: object
) -> Literal["ok", "issuer_not_http", "issuer_id_missing"]:
    """Is `url` a place the issuer lets host its assertions (OB 2.0 VerificationObject)?

    allowedOrigins names hosts, startsWith URL prefixes; with neither, the host of `anchor`
    (the issuer's URL: where it was fetched, its id, or for OB 1.0 its `url`). An issuer with
    no HTTP URL cannot be checked: a warning, as 1EdTech's validator gives.
    """
    host = _host(url)
    policy = issuer.get("verification")
    policy = policy if isinstance(policy, dict) else {}
    origins, prefixes = policy.get("allowedOrigins"), policy.get("startsWith")
    if origins is not None:
        allowed = origins if isinstance(origins, list) else [origins]
        if host is None or host not in {str(item).lower() for item in allowed}:
            raise _out_of_scope(url)
        return "ok"
    if prefixes is not None:
        starts = prefixes if isinstance(prefixes, list) else [prefixes]
        if not any(isinstance(item, str) and item and url.startswith(item) for item in starts):
            raise _out_of_scope(url)
        return "ok"
    if anchor is None:
        return "issuer_id_missing"
    if _host(anchor) is None:
        return "issuer_not_http"
    if host != _host(anchor):
        raise _out_of_scope(url)
    return "ok"


def _out_of_scope(url: str) -> BadgeChainError:
    return BadgeChainError(
        f"{url:.100} is not where the issuer hosts its assertions", code="hosted_out_of_scope"
    )


def revoked_entry(revocation_list: dict[str, Any], ids: set[str]) -> dict[str, Any] | None:
    """The revokedAssertions entry naming one of `ids` (entries are ids or {id|uid, reason})."""
    entries = revocation_list.get("revokedAssertions", [])
    if not isinstance(entries, list):
        raise BadgeChainError("revokedAssertions is not a list", code="revocation_list_invalid")
    for entry in entries:
        if isinstance(entry, str) and entry in ids:
            return {"id": entry}
        if isinstance(entry, dict) and (entry.get("id") in ids or entry.get("uid") in ids):
            return entry
    return None


def check_extensions(node: dict[str, Any]) -> str | None:
    """Extensions BadgeChain knows are checked against their published schema; the code of a
    warning is returned when an extension was present but could not be checked."""
    unchecked = None
    for name, value in node.items():
        if ":" not in name or not isinstance(value, dict):
            continue
        types = " ".join(types_of(value))
        if "ExampleExtension" in types:
            text = value.get("exampleProperty", value.get("http://schema.org/text"))
            if not isinstance(text, str):
                raise BadgeChainError(
                    f"extension {name:.60}: exampleProperty must be text", code="extension_invalid"
                )
        if "ApplyLink" in types and not isinstance(value.get("url"), str):
            raise BadgeChainError(
                f"extension {name:.60}: url must be text", code="extension_invalid"
            )
        if "Extension" in types and not ("ExampleExtension" in types or "ApplyLink" in types):
            unchecked = "extension_not_validated"
    return unchecked


def verify_jws_with_pem(jws: Jws, pem: object) -> None:
    """An OB 2.0 signed assertion: RS256 over the compact JWS with the issuer's PEM key."""
    if jws.header.get("alg") != "RS256":
        raise ProofError(
            f"JWS alg {jws.header.get('alg')!r:.40} is not RS256", code="jws_alg_unsupported"
        )
    if "crit" in jws.header or jws.header.get("b64", True) is not True:
        raise ProofError("JWS uses header extensions (crit, b64)", code="jws_header_unsupported")
    if not isinstance(pem, str) or len(pem) > MAX_PEM_CHARS:
        raise ProofError("the key has no publicKeyPem", code="jws_key_invalid")
    try:
        key = serialization.load_pem_public_key(pem.strip().encode())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ProofError("publicKeyPem cannot be read", code="jws_key_invalid") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ProofError("publicKeyPem is not an RSA key", code="jws_key_invalid")
    if not _MIN_RSA_BITS <= key.key_size <= _MAX_RSA_BITS:
        raise ProofError(f"RSA key of {key.key_size} bits is refused", code="jws_key_invalid")
    try:
        key.verify(jws.signature, jws.signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise ProofError("JWS signature does not verify", code="jws_signature_invalid") from exc
