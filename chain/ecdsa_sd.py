"""ecdsa-sd-2023 (W3C Data Integrity ECDSA Cryptosuites v1.0, section 3.3): verification of a
*derived* proof over P-256. A base proof is the issuer's input to derivation, meant for the
holder only: it is refused (`proof_base_not_verifiable`), as the spec's verifier does.

Derived proofValue: "u" + base64url(0xd9 0x5d 0x01 ‖ CBOR [baseSignature, publicKey,
signatures, compressedLabelMap, mandatoryIndexes]).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .contexts import document_loader
from .errors import BadgeChainError, DecodeError, IdentityError, ProofError
from .jsonld import DocumentLoader, canonize
from .jwtkey import jwk_from_multikey, jwk_in_did_document
from .keys import PublicKey
from .multibase import b64url_decode, b64url_encode
from .nquads import BlankNode, Quad, parse_nquads, serialize_quad
from .resolve import DidDocumentResolver, ResolvedKey, did_web_document

__all__ = [
    "ECDSA_SD",
    "P256_MULTIKEY_HEADER",
    "DerivedProof",
    "is_ecdsa_sd",
    "parse_derived_proof_value",
    "refuse_base_proof",
    "resolve_p256_method",
    "verify_derived_proof",
]

ECDSA_SD = "ecdsa-sd-2023"
P256_MULTIKEY_HEADER = b"\x80\x24"  # multicodec p256-pub, a 33-byte compressed point follows
_BASE_HEADER = b"\xd9\x5d\x00"
_DERIVED_HEADER = b"\xd9\x5d\x01"
MAX_PROOF_VALUE_CHARS = 256 * 1024
MAX_SIGNATURES = 2048  # one per non-mandatory statement disclosed


@dataclass(frozen=True, slots=True)
class DerivedProof:
    base_signature: bytes  # P-256 r‖s over proofHash ‖ publicKey ‖ mandatoryHash
    public_key: bytes  # the ephemeral key, as a Multikey (0x8024 ‖ compressed point)
    signatures: tuple[bytes, ...]  # one per non-mandatory N-Quad, in sorted order
    label_map: dict[str, str]  # canonical label (c14nN) → the issuer's HMAC-derived label
    mandatory_indexes: tuple[int, ...]


def is_ecdsa_sd(proof: dict[str, Any]) -> bool:
    return proof.get("type") == "DataIntegrityProof" and proof.get("cryptosuite") == ECDSA_SD


def refuse_base_proof(proof: dict[str, Any]) -> None:
    """Raise `proof_base_not_verifiable` for an ecdsa-sd-2023 base proof (its header says so)."""
    value = proof.get("proofValue")
    if is_ecdsa_sd(proof) and isinstance(value, str) and value.startswith("u2V0A"):
        parse_derived_proof_value(value)  # "u2V0A" is base64url of 0xd9 0x5d 0x00: raises


def resolve_p256_method(vm_id: object, did_documents: DidDocumentResolver | None) -> ResolvedKey:
    """The P-256 key (compressed point) a verification method names: a did:key, a did:web
    assertion key, or (unconfirmed, as 1EdTech's examples use) a URL whose fragment is the
    Multikey."""
    if not isinstance(vm_id, str) or len(vm_id) > 2048:
        raise IdentityError("verificationMethod must be a URL", code="verification_method_invalid")
    controller, _, fragment = vm_id.partition("#")
    if controller.startswith("did:key:"):
        if fragment and fragment != controller[len("did:key:") :]:
            raise IdentityError(
                "did:key fragment does not name its own key", code="verification_method_invalid"
            )
        return ResolvedKey(_p256_point(jwk_from_multikey(controller[8:])), controller, True)
    if controller.startswith("did:web:"):
        document = did_web_document(controller, did_documents)
        jwk = jwk_in_did_document(document, controller, vm_id)
        return ResolvedKey(_p256_point(jwk), controller, True)
    if fragment.startswith("zDn"):
        return ResolvedKey(_p256_point(jwk_from_multikey(fragment)), controller, False)
    raise IdentityError(
        f"cannot resolve verification method {vm_id:.100}", code="verification_method_unknown"
    )


def _p256_point(jwk: dict[str, Any]) -> PublicKey:
    """The compressed SEC1 point of a P-256 public JWK."""
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise IdentityError("the key is not a P-256 key", code="verification_method_invalid")
    try:
        x, y = b64url_decode(str(jwk.get("x"))), b64url_decode(str(jwk.get("y")))
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        )
        point = numbers.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    except (DecodeError, ValueError) as exc:
        raise IdentityError(
            "the key is not a P-256 point", code="verification_method_invalid"
        ) from exc
    return PublicKey(point)


def parse_derived_proof_value(value: object) -> DerivedProof:
    """Decode a derived proofValue (section 3.5.8 parseDerivedProofValue); refuse a base one."""
    if not isinstance(value, str) or not value.startswith("u"):
        raise ProofError("proofValue is not base64url multibase", code="proof_value_invalid")
    if len(value) > MAX_PROOF_VALUE_CHARS:
        raise ProofError("proofValue is too large", code="proof_value_invalid")
    try:
        raw = b64url_decode(value[1:])
    except DecodeError as exc:
        raise ProofError("proofValue is not base64url", code="proof_value_invalid") from exc
    if raw[:3] == _BASE_HEADER:
        raise ProofError(
            "an ecdsa-sd-2023 base proof is for the holder to derive from, not to verify",
            code="proof_base_not_verifiable",
        )
    if raw[:3] != _DERIVED_HEADER:
        raise ProofError("not an ecdsa-sd-2023 proofValue", code="proof_value_invalid")
    try:
        components = cbor2.loads(raw[3:])
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise ProofError(f"proofValue is not CBOR: {exc}", code="proof_value_invalid") from exc
    return _derived(components)


def _derived(components: object) -> DerivedProof:
    if not isinstance(components, list) or len(components) != 5:
        raise _malformed("a derived proof has five components")
    base_signature, public_key, signatures, labels, indexes = components
    if not _bytes(base_signature, 64) or not _bytes(public_key, 35):
        raise _malformed("base signature or public key has the wrong size")
    if public_key[:2] != P256_MULTIKEY_HEADER:
        raise _malformed("the ephemeral key is not a P-256 Multikey")
    if not isinstance(signatures, list) or len(signatures) > MAX_SIGNATURES:
        raise _malformed("signatures must be a list")
    if not all(_bytes(signature, 64) for signature in signatures):
        raise _malformed("every signature is 64 bytes")
    if not isinstance(labels, dict) or not all(
        _index(key) and _bytes(label, 32) for key, label in labels.items()
    ):
        raise _malformed("the label map maps integers to 32-byte labels")
    if not isinstance(indexes, list) or not all(_index(index) for index in indexes):
        raise _malformed("mandatory indexes must be integers")
    # Section 3.5.5 decompressLabelMap: "c14n<k>" → "u" + base64url(HMAC output).
    label_map = {f"c14n{key}": "u" + b64url_encode(label) for key, label in labels.items()}
    return DerivedProof(base_signature, public_key, tuple(signatures), label_map, tuple(indexes))


def verify_derived_proof(
    document: dict[str, Any],
    proof: dict[str, Any],
    issuer_key: bytes,
    *,
    loader: DocumentLoader = document_loader,
) -> None:
    """Raise ProofError unless `proof` is a valid derived ecdsa-sd-2023 proof of `document`
    made (at its base) by `issuer_key`, a compressed or uncompressed P-256 point."""
    derived = parse_derived_proof_value(proof.get("proofValue"))
    unsecured = {name: value for name, value in document.items() if name != "proof"}
    config = {name: value for name, value in proof.items() if name != "proofValue"}
    config["@context"] = document.get("@context")
    proof_hash = _sha256(canonize(config, loader=loader).encode())
    statements = _relabelled(canonize(unsecured, loader=loader), derived.label_map)
    if any(index >= len(statements) for index in derived.mandatory_indexes):
        raise _malformed("a mandatory index is past the disclosed statements")
    mandatory_set = set(derived.mandatory_indexes)
    mandatory = [statements[index] for index in sorted(mandatory_set)]
    others = [line for index, line in enumerate(statements) if index not in mandatory_set]
    if len(others) != len(derived.signatures):
        raise ProofError(
            "the number of signatures does not match the disclosed statements",
            code="signature_invalid",
        )
    mandatory_hash = _sha256("".join(mandatory).encode())
    base_input = proof_hash + derived.public_key + mandatory_hash
    if not _verify_p256(issuer_key, derived.base_signature, base_input):
        raise ProofError("the base signature does not verify", code="signature_invalid")
    ephemeral = derived.public_key[2:]
    for line, signature in zip(others, derived.signatures, strict=True):
        if not _verify_p256(ephemeral, signature, line.encode()):
            raise ProofError(
                "a disclosed statement's signature does not verify", code="signature_invalid"
            )


def _relabelled(canonical: str, label_map: dict[str, str]) -> list[str]:
    """Section 3.4.2 labelReplacementCanonicalizeJsonLd: the canonical statements with each
    blank node renamed through the label map, sorted."""
    quads = parse_nquads(canonical)

    def rename(term: Any) -> Any:
        if not isinstance(term, BlankNode):
            return term
        if term.label not in label_map:
            raise ProofError(f"blank node {term.label} has no label", code="signature_invalid")
        return BlankNode(label_map[term.label])

    renamed = [
        Quad(rename(quad.subject), quad.predicate, rename(quad.object), rename(quad.graph))
        for quad in quads
    ]
    return sorted(serialize_quad(quad) for quad in renamed)


def _verify_p256(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """ECDSA P-256 with SHA-256 over `message`; the signature is r‖s (IEEE P1363)."""
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _bytes(value: object, size: int) -> bool:
    return isinstance(value, bytes) and len(value) == size


def _index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1_000_000


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _malformed(message: str) -> BadgeChainError:
    return ProofError(f"ecdsa-sd-2023 proofValue: {message}", code="proof_value_invalid")
