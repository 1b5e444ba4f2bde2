"""Reading and checking VC-JWTs: Open Badges 3.0 credentials secured as a compact JWS (RFC 7515).

Supports RS256, ES256 and EdDSA (Ed25519) with the public key carried in the JOSE header.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .errors import DecodeError, InputTooLarge, ProofError
from .jsonio import parse_json
from .multibase import b64url_decode

__all__ = [
    "JWT_CLAIMS",
    "MAX_JWS_BYTES",
    "SUPPORTED_ALGS",
    "Jws",
    "JwtCredential",
    "credential_from_jwt",
    "parse_compact_jws",
    "verify_jws_with_header_jwk",
    "verify_jws_with_jwk",
]

MAX_JWS_BYTES = 1024 * 1024  # the same bound as a baked payload
# RFC 7519 section 4.1 registered claims: they sit beside the credential, not inside it.
JWT_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})
_MIN_RSA_BITS, _MAX_RSA_BITS = 2048, 8192  # below is breakable; above only costs the verifier

_Verifier = Callable[[dict[str, Any], bytes, bytes], None]


@dataclass(frozen=True, slots=True)
class Jws:
    """A compact JWS taken apart; nothing is verified yet."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class JwtCredential:
    """The credential a VC-JWT secures, its JWT claims, and whether it came in a VC 1.1 `vc`."""

    credential: dict[str, Any]
    claims: dict[str, Any]
    legacy: bool


def parse_compact_jws(token: str) -> Jws:
    """Split and decode `header.payload.signature`; header and payload must be JSON objects."""
    if not isinstance(token, str):
        raise DecodeError("a compact JWS is text", code="jws_malformed")
    token = token.strip()
    if len(token) > MAX_JWS_BYTES:
        raise InputTooLarge(f"JWS is {len(token)} characters; the limit is {MAX_JWS_BYTES}")
    parts = token.split(".")
    if len(parts) != 3:
        raise DecodeError(f"a compact JWS has 3 parts, not {len(parts)}", code="jws_malformed")
    header = _json_object(_b64url_decode(parts[0]), "header")
    payload = _json_object(_b64url_decode(parts[1]), "payload")
    if not isinstance(header.get("alg"), str):
        raise DecodeError("JWS header has no alg", code="jws_malformed")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")  # RFC 7515 section 5.2 step 8
    return Jws(header, payload, signing_input, _b64url_decode(parts[2]))


def credential_from_jwt(jws: Jws) -> JwtCredential:
    """The credential in a VC-JWT payload.

    VC 2.0 (OB 3.0 section "JSON Web Token Proof Format"): the payload is the credential, and
    the registered JWT claims beside it are split off. VC 1.1: it sits in the `vc` claim.
    """
    payload = jws.payload
    claims = {name: value for name, value in payload.items() if name in JWT_CLAIMS}
    if "@context" in payload:
        credential = {name: value for name, value in payload.items() if name not in JWT_CLAIMS}
        return JwtCredential(credential, claims, legacy=False)
    legacy = payload.get("vc")
    if isinstance(legacy, dict):
        return JwtCredential(dict(legacy), claims, legacy=True)
    raise DecodeError(
        "JWT payload holds no credential (no @context, no vc)", code="jwt_not_credential"
    )


def verify_jws_with_header_jwk(jws: Jws) -> None:
    """Check the signature against the `jwk` in the JOSE header; raise ProofError if it fails.

    This shows the token is intact, not who made it: the caller still has to tie that key to
    the credential's issuer (issuer profile, DID document).
    """
    jwk = jws.header.get("jwk")
    if jwk is None:
        raise ProofError("JWS header carries no jwk to verify with", code="jws_key_missing")
    verify_jws_with_jwk(jws, jwk)


def verify_jws_with_jwk(jws: Jws, jwk: object) -> None:
    """Check the signature against `jwk` (from the header, a DID document or a JWKS)."""
    alg = jws.header.get("alg")
    verifier = _VERIFIERS.get(alg) if isinstance(alg, str) else None
    if verifier is None:  # "none" included: an unsigned token proves nothing
        raise ProofError(f"JWS alg {alg!r:.40} is not supported", code="jws_alg_unsupported")
    _check_no_extensions(jws.header)
    if not isinstance(jwk, dict):
        raise ProofError("the jwk is not a JSON object", code="jws_key_invalid")
    if jwk.get("alg", alg) != alg or jwk.get("use", "sig") != "sig":
        raise ProofError("jwk is not meant for this alg", code="jws_key_invalid")
    verifier(jwk, jws.signature, jws.signing_input)


def _check_no_extensions(header: dict[str, Any]) -> None:
    # RFC 7515 section 4.1.11: a `crit` extension we do not implement makes the JWS invalid;
    # RFC 7797 `b64: false` changes the signing input, which we do not support.
    if "crit" in header or header.get("b64", True) is not True:
        raise ProofError("JWS uses header extensions (crit, b64)", code="jws_header_unsupported")


# --- encodings -----------------------------------------------------------------------------


def _b64url_decode(text: str) -> bytes:
    """RFC 7515 section 2: base64url with no padding, no whitespace, canonical trailing bits."""
    try:
        return b64url_decode(text)
    except DecodeError as exc:
        raise DecodeError(f"JWS part: {exc.message}", code="jws_malformed") from exc


def _json_object(data: bytes, part: str) -> dict[str, Any]:
    try:
        value = parse_json(data, max_bytes=MAX_JWS_BYTES)
    except InputTooLarge:
        raise
    except (DecodeError, ValueError) as exc:  # ValueError: an integer past Python's digit limit
        raise DecodeError(f"JWS {part} is not valid JSON: {exc}", code="jws_malformed") from exc
    if not isinstance(value, dict):
        raise DecodeError(f"JWS {part} is not a JSON object", code="jws_malformed")
    return value


# --- keys and signatures -------------------------------------------------------------------


def _verify_rs256(jwk: dict[str, Any], signature: bytes, message: bytes) -> None:
    _require(jwk, kty="RSA")
    modulus, exponent = _jwk_int(jwk, "n"), _jwk_int(jwk, "e")
    if not _MIN_RSA_BITS <= modulus.bit_length() <= _MAX_RSA_BITS:
        raise ProofError(
            f"RSA key of {modulus.bit_length()} bits is refused", code="jws_key_invalid"
        )
    try:
        key = rsa.RSAPublicNumbers(exponent, modulus).public_key()
    except ValueError as exc:
        raise ProofError(f"RSA jwk is invalid: {exc}", code="jws_key_invalid") from exc
    _check(lambda: key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256()))


def _verify_es256(jwk: dict[str, Any], signature: bytes, message: bytes) -> None:
    _require(jwk, kty="EC", crv="P-256")
    x, y = _jwk_bytes(jwk, "x", 32), _jwk_bytes(jwk, "y", 32)
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
    )
    try:
        key = numbers.public_key()
    except ValueError as exc:
        raise ProofError(f"EC jwk is not a P-256 point: {exc}", code="jws_key_invalid") from exc
    if len(signature) != 64:  # RFC 7518 section 3.4: R || S, 32 bytes each, not DER
        raise ProofError("ES256 signature is not 64 bytes", code="jws_signature_invalid")
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    der = encode_dss_signature(r, s)
    _check(lambda: key.verify(der, message, ec.ECDSA(hashes.SHA256())))


def _verify_eddsa(jwk: dict[str, Any], signature: bytes, message: bytes) -> None:
    _require(jwk, kty="OKP", crv="Ed25519")  # RFC 8037 section 2
    key = Ed25519PublicKey.from_public_bytes(_jwk_bytes(jwk, "x", 32))
    _check(lambda: key.verify(signature, message))


_VERIFIERS: dict[str, _Verifier] = {
    "RS256": _verify_rs256,
    "ES256": _verify_es256,
    "EdDSA": _verify_eddsa,
    "Ed25519": _verify_eddsa,  # the fully-specified name for EdDSA over Ed25519
}
SUPPORTED_ALGS = frozenset(_VERIFIERS)


def _require(jwk: dict[str, Any], **members: str) -> None:
    for name, expected in members.items():
        if jwk.get(name) != expected:
            raise ProofError(f"jwk {name} must be {expected!r}", code="jws_key_invalid")


def _jwk_bytes(jwk: dict[str, Any], name: str, size: int | None = None) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise ProofError(f"jwk has no {name}", code="jws_key_invalid")
    try:
        data = _b64url_decode(value)
    except DecodeError as exc:
        raise ProofError(f"jwk {name} is not base64url", code="jws_key_invalid") from exc
    if size is not None and len(data) != size:
        raise ProofError(f"jwk {name} is not {size} bytes", code="jws_key_invalid")
    return data


def _jwk_int(jwk: dict[str, Any], name: str) -> int:
    return int.from_bytes(_jwk_bytes(jwk, name), "big")


def _check(verify: Callable[[], None]) -> None:
    try:
        verify()
    except InvalidSignature as exc:
        raise ProofError("JWS signature does not verify", code="jws_signature_invalid") from exc
