"""Finding the key a VC-JWT was signed with: the JOSE header's `kid` dereferenced (a did:key,
a did:web verification method, a JWKS URL), else the header's own `jwk`.

Pure: a DID document or a JWKS is asked of the resolvers passed in (`Unreachable` when offline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from .errors import BadgeChainError, DecodeError, IdentityError, ProofError
from .jose import Jws
from .jsonio import parse_json
from .multibase import b64url_encode, multibase_decode
from .resolve import Resolvers, Unreachable

__all__ = [
    "MAX_JWKS_BYTES",
    "JwtKey",
    "find_jwt_key",
    "jwk_from_multikey",
    "jwk_in_did_document",
    "same_origin",
]

MAX_JWKS_BYTES = 64 * 1024
MAX_JWKS_KEYS = 32
MAX_KID_CHARS = 2048
_ED25519_PUB = b"\xed\x01"  # multicodec ed25519-pub
_P256_PUB = b"\x80\x24"  # multicodec p256-pub (0x1200), a compressed point follows

Source = Literal["header", "did", "jwks"]


@dataclass(frozen=True, slots=True)
class JwtKey:
    """A public JWK, where it came from, and who vouches for it."""

    jwk: dict[str, Any]
    source: Source
    controller: str  # the DID that lists the key, the JWKS URL, or "" for a header key


def find_jwt_key(jws: Jws, issuer: str, resolvers: Resolvers) -> JwtKey:
    """The key to verify `jws` with. A `kid` that is a DID URL or an http(s) URL is always
    dereferenced (a header `jwk` is self-asserted); any other `kid` only names the header key."""
    kid = jws.header.get("kid")
    if isinstance(kid, str) and kid.startswith("#") and issuer.startswith("did:"):
        kid = issuer + kid  # a relative key id, as DID documents write them
    if isinstance(kid, str) and len(kid) > MAX_KID_CHARS:
        raise ProofError("the JWS kid is too long", code="jws_key_invalid")
    if isinstance(kid, str) and kid.startswith("did:"):
        return _did_key(kid, resolvers)
    if isinstance(kid, str) and kid.startswith(("https://", "http://")):
        return _jwks_key(kid, resolvers)
    jwk = jws.header.get("jwk")
    if jwk is None:
        raise ProofError(
            "the JWS names no key it can be checked with (no jwk, no resolvable kid)",
            code="jws_key_missing",
        )
    if not isinstance(jwk, dict):
        raise ProofError("JWS header jwk is not a JSON object", code="jws_key_invalid")
    return JwtKey(jwk, "header", "")


def jwk_from_multikey(value: object) -> dict[str, Any]:
    """A public JWK from a Multikey: Ed25519 (`z6Mk…`) or P-256 (`zDn…`)."""
    try:
        raw = multibase_decode(value) if isinstance(value, str) and len(value) < 128 else b""
    except DecodeError as exc:
        raise IdentityError(
            f"Multikey is not multibase: {exc.message}", code="multikey_invalid"
        ) from exc
    if raw[:2] == _ED25519_PUB and len(raw) == 34:
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw[2:])}
    if raw[:2] == _P256_PUB and len(raw) == 35:
        try:
            point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw[2:])
        except ValueError as exc:
            raise IdentityError("Multikey is not a P-256 point", code="multikey_invalid") from exc
        numbers = point.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        }
    raise IdentityError("Multikey is neither Ed25519 nor P-256", code="multikey_invalid")


# -- DIDs ------------------------------------------------------------------------------------


def _did_key(kid: str, resolvers: Resolvers) -> JwtKey:
    did, _, fragment = kid.partition("#")
    if did.startswith("did:key:"):
        multikey = did[len("did:key:") :]
        if fragment and fragment != multikey:
            raise IdentityError(
                "did:key fragment does not name its own key", code="verification_method_invalid"
            )
        return JwtKey(jwk_from_multikey(multikey), "did", did)
    if not did.startswith("did:web:"):
        raise IdentityError(
            f"cannot resolve the DID method of {did:.80}", code="verification_method_unknown"
        )
    if resolvers.did_documents is None:
        raise Unreachable(f"no DID resolver to read {did:.100}")
    document = resolvers.did_documents(did)
    if document is None:
        raise IdentityError(f"DID document of {did:.100} not found", code="did_not_found")
    return JwtKey(jwk_in_did_document(document, did, kid), "did", did)


def jwk_in_did_document(document: object, did: str, kid: str) -> dict[str, Any]:
    """The assertion key `kid` of a DID document (publicKeyJwk or publicKeyMultibase)."""
    if not isinstance(document, dict) or document.get("id") != did:
        raise IdentityError("DID document id does not match the DID", code="did_document_invalid")
    methods = {
        _absolute(vm.get("id"), did): vm
        for vm in _list(document.get("verificationMethod"))
        if isinstance(vm, dict)
    }
    for ref in _list(document.get("assertionMethod")):
        vm = ref if isinstance(ref, dict) else methods.get(_absolute(ref, did))
        if not isinstance(vm, dict) or _absolute(vm.get("id"), did) != kid:
            continue
        if vm.get("controller") != did:
            break
        if isinstance(vm.get("publicKeyJwk"), dict):
            return _public_jwk(vm["publicKeyJwk"])
        return jwk_from_multikey(vm.get("publicKeyMultibase"))
    raise IdentityError(
        "the DID document lists no such assertion key", code="verification_method_unknown"
    )


def _absolute(vm_id: object, did: str) -> str:
    if not isinstance(vm_id, str):
        return ""
    return did + vm_id if vm_id.startswith("#") else vm_id


def _list(value: object) -> list[Any]:
    return value[:MAX_JWKS_KEYS] if isinstance(value, list) else []


def _public_jwk(jwk: dict[str, Any]) -> dict[str, Any]:
    if "d" in jwk:  # a private key published by mistake is not a key anyone should trust
        raise IdentityError("the published jwk holds a private key", code="jws_key_invalid")
    return jwk


# -- JWKS ------------------------------------------------------------------------------------


def _jwks_key(kid: str, resolvers: Resolvers) -> JwtKey:
    url, _, fragment = kid.partition("#")
    if resolvers.documents is None:
        raise Unreachable(f"offline: the key set {url:.100} was not fetched")
    fetched = resolvers.documents(url)
    if fetched is None:
        raise ProofError(f"no key set at {url:.100}", code="jws_key_not_found")
    if len(fetched.body) > MAX_JWKS_BYTES:
        raise ProofError(f"the key set is over {MAX_JWKS_BYTES} bytes", code="jws_key_invalid")
    try:
        document = parse_json(fetched.body, max_bytes=MAX_JWKS_BYTES)
    except (BadgeChainError, ValueError) as exc:
        raise ProofError(f"the key set at {url:.100} is not JSON", code="jws_key_invalid") from exc
    return JwtKey(_pick_jwk(document, kid, fragment), "jwks", url)


def _pick_jwk(document: object, kid: str, fragment: str) -> dict[str, Any]:
    """A JWK Set (RFC 7517 section 5) entry whose kid is the fragment or the whole kid; a
    lone key when the kid names no fragment; or a single JWK served at the URL."""
    if isinstance(document, dict) and "kty" in document and not fragment:
        return _public_jwk(document)
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or len(keys) > MAX_JWKS_KEYS:
        raise ProofError("the key set is not a JWK Set", code="jws_key_invalid")
    candidates = [key for key in keys if isinstance(key, dict)]
    wanted = {kid, fragment} if fragment else {kid}
    named = [key for key in candidates if key.get("kid") in wanted]
    if named:
        return _public_jwk(named[0])
    if not fragment and len(candidates) == 1:
        return _public_jwk(candidates[0])
    raise ProofError(f"the key set has no key {kid:.100}", code="jws_key_not_found")


def same_origin(url: str, issuer: str) -> bool:
    """Whether a key set URL is served by the issuer's own origin (scheme, host and port)."""
    try:
        key_url, issuer_url = urlsplit(url), urlsplit(issuer)
        return (
            issuer_url.scheme == "https"
            and key_url.scheme == "https"
            and key_url.netloc.lower() == issuer_url.netloc.lower()
        )
    except ValueError:
        return False
