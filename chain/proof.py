"""Data Integrity proofs: create and verify eddsa-rdfc-2022, verify eddsa-jcs-2022 and the
legacy Ed25519 forms (`Ed25519Signature2020`, the `eddsa-2022` cryptosuite name).

Follows vc-di-eddsa (transformation, hashing, proof configuration, serialization) and
vc-data-integrity (proof sets and chains via `previousProof`). The badge's UID is the
proofValue of its issuer's proof.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785

from .contexts import document_loader
from .errors import BadgeChainError, ProofError
from .jsonld import DocumentLoader, canonize
from .keys import KeyPair, verify_signature
from .multibase import b58decode, multibase_encode_b58

__all__ = [
    "LEGACY_SUITES",
    "SUPPORTED_CRYPTOSUITES",
    "ProofCheck",
    "create_proof",
    "format_created",
    "proof_list",
    "proof_suite",
    "proof_value_bytes",
    "sign_credential",
    "signing_input",
    "verify_proof",
]

RDFC = "eddsa-rdfc-2022"
JCS = "eddsa-jcs-2022"
SUPPORTED_CRYPTOSUITES = (RDFC, JCS)
# Verified, never issued. `eddsa-2022` is the draft name of eddsa-rdfc-2022 (same algorithm);
# Ed25519Signature2020 (W3C CCG) hashes the proof options in the document's context and the
# document with URDNA2015 (= RDFC-1.0), SHA-256 each, concatenated: the same signing input.
LEGACY_EDDSA = "eddsa-2022"
ED25519_2020 = "Ed25519Signature2020"
LEGACY_SUITES = (LEGACY_EDDSA, ED25519_2020)
MAX_PROOFS = 8
_PROOF_VALUE = re.compile(r"z[1-9A-HJ-NP-Za-km-z]{80,95}")


@dataclass(frozen=True, slots=True)
class ProofCheck:
    """The outcome of checking one proof of a proof set."""

    proof: dict[str, Any]
    ok: bool
    code: str
    message: str


def format_created(moment: datetime) -> str:
    """XML Schema dateTime in UTC with second precision, as Data Integrity writes `created`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def proof_list(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The proofs of a secured document (a single proof or a proof set)."""
    proofs = document.get("proof")
    items = proofs if isinstance(proofs, list) else [] if proofs is None else [proofs]
    if len(items) > MAX_PROOFS:
        raise ProofError(f"more than {MAX_PROOFS} proofs", code="proof_too_many")
    if not all(isinstance(item, dict) for item in items):
        raise ProofError("every proof must be a JSON object", code="proof_malformed")
    return items


def proof_value_bytes(proof: dict[str, Any]) -> bytes:
    """The 64-byte signature carried in `proofValue` (multibase base58btc)."""
    value = proof.get("proofValue")
    if not isinstance(value, str) or not _PROOF_VALUE.fullmatch(value):
        raise ProofError(
            "proofValue is not a base58btc multibase signature", code="proof_value_invalid"
        )
    signature = b58decode(value[1:])
    if len(signature) != 64:
        raise ProofError(
            "proofValue is not a 64-byte Ed25519 signature", code="proof_value_invalid"
        )
    return signature


def proof_suite(proof: dict[str, Any]) -> str | None:
    """The Ed25519 suite a proof uses (a cryptosuite name, or Ed25519Signature2020), or None
    when it is none we verify."""
    if proof.get("type") == ED25519_2020:
        return ED25519_2020
    suite = proof.get("cryptosuite")
    if proof.get("type") == "DataIntegrityProof" and suite in (RDFC, JCS, LEGACY_EDDSA):
        return str(suite)
    return None


def signing_input(
    document: dict[str, Any], proof: dict[str, Any], *, loader: DocumentLoader = document_loader
) -> bytes:
    """proofConfig hash ‖ document hash (vc-di-eddsa, "Hashing"), 64 bytes, for any suite."""
    suite = proof_suite(proof)
    if suite is None:
        raise ProofError(
            f"unsupported proof: {proof.get('type')!r:.40} / {proof.get('cryptosuite')!r:.40}",
            code="proof_unsupported",
        )
    unsecured = _unsecured_document(document, proof)
    config = {key: value for key, value in proof.items() if key != "proofValue"}
    if suite != JCS:
        # The proof configuration is canonicalized in the document's context (the emitted
        # proof does not carry it: interop NOTES 7).
        config["@context"] = document.get("@context")
        return _config_hash(config, loader) + _sha256(canonize(unsecured, loader=loader))
    return _jcs_signing_input(unsecured, config)


def create_proof(
    document: dict[str, Any],
    key: KeyPair,
    *,
    created: datetime,
    verification_method: str | None = None,
    previous_proof: str | list[str] | None = None,
    proof_id: str | None = None,
    loader: DocumentLoader = document_loader,
) -> dict[str, Any]:
    """A new eddsa-rdfc-2022 proof over `document` (which may already carry proofs)."""
    proof: dict[str, Any] = {}
    if proof_id is not None:
        proof["id"] = proof_id
    proof |= {
        "type": "DataIntegrityProof",
        "cryptosuite": RDFC,
        "created": format_created(created),
        "verificationMethod": verification_method or key.verification_method,
        "proofPurpose": "assertionMethod",
    }
    if previous_proof is not None:
        proof["previousProof"] = previous_proof
    base = {name: value for name, value in document.items() if name != "proof"}
    if previous_proof is not None:
        base["proof"] = document.get("proof")
    signature = key.sign(signing_input(base, proof, loader=loader))
    return proof | {"proofValue": multibase_encode_b58(signature)}


def sign_credential(
    credential: dict[str, Any],
    key: KeyPair,
    *,
    created: datetime,
    loader: DocumentLoader = document_loader,
) -> dict[str, Any]:
    """A copy of `credential` secured with the issuer's eddsa-rdfc-2022 proof.

    Safe mode applies: a credential with undefined terms or relative IRIs is refused.
    """
    if "proof" in credential:
        raise ProofError("credential already carries a proof", code="proof_present")
    signed = copy.deepcopy(credential)
    signed["proof"] = create_proof(credential, key, created=created, loader=loader)
    return signed


def verify_proof(
    document: dict[str, Any],
    proof: dict[str, Any],
    public_key: bytes,
    *,
    loader: DocumentLoader = document_loader,
) -> ProofCheck:
    """Check one proof of `document` against an already resolved public key."""
    try:
        signature = proof_value_bytes(proof)
        if proof.get("proofPurpose") != "assertionMethod":
            raise ProofError("proofPurpose must be assertionMethod", code="proof_purpose_invalid")
        message = signing_input(document, proof, loader=loader)
    except BadgeChainError as exc:
        return ProofCheck(proof, False, exc.code, exc.message)
    if not verify_signature(public_key, message, signature):
        return ProofCheck(
            proof, False, "signature_invalid", "the signature does not match the document"
        )
    suite = proof_suite(proof)
    if suite in LEGACY_SUITES:
        # 1EdTech's validator accepts these with a warning; so do we (never issued).
        return ProofCheck(proof, True, "legacy_proof_suite", f"legacy {suite} signature verified")
    return ProofCheck(proof, True, "ok", f"{suite} signature verified")


def _unsecured_document(document: dict[str, Any], proof: dict[str, Any]) -> dict[str, Any]:
    """The document without proofs, or with exactly the proofs that `proof` chains to."""
    unsecured = {name: value for name, value in document.items() if name != "proof"}
    previous = proof.get("previousProof")
    if previous is None:
        return unsecured
    wanted = [previous] if isinstance(previous, str) else previous
    if not isinstance(wanted, list) or not all(isinstance(item, str) for item in wanted):
        raise ProofError(
            "previousProof must be a proof id or a list of them", code="proof_chain_invalid"
        )
    by_id = {item.get("id"): item for item in proof_list(document) if item is not proof}
    missing = [item for item in wanted if item not in by_id]
    if missing:
        raise ProofError(
            f"previousProof {missing[0]!r:.80} is not in the proof set", code="proof_chain_broken"
        )
    chained = [by_id[item] for item in wanted]
    unsecured["proof"] = chained[0] if len(chained) == 1 else chained
    return unsecured


def _jcs_signing_input(unsecured: dict[str, Any], config: dict[str, Any]) -> bytes:
    """eddsa-jcs-2022: the proof's @context, when present, must prefix the document's."""
    proof_context = config.get("@context")
    if proof_context is not None:
        doc_context = unsecured.get("@context")
        proof_items = proof_context if isinstance(proof_context, list) else [proof_context]
        doc_items = doc_context if isinstance(doc_context, list) else [doc_context]
        if doc_items[: len(proof_items)] != proof_items:
            raise ProofError(
                "the proof's @context does not match the document's", code="proof_context_mismatch"
            )
    try:
        return _sha256_bytes(rfc8785.dumps(config)) + _sha256_bytes(rfc8785.dumps(unsecured))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ProofError(f"JSON canonicalization failed: {exc}", code="jcs_invalid") from exc


# The proof configuration's hash depends only on the proof options and the document's @context
# (pinned contexts never change), and one issuer signs many badges with the same options: keep
# recent ones, per thread (verification runs in worker threads; nothing is shared).
_MAX_CACHED_CONFIGS = 256
_MAX_CONFIG_KEY_CHARS = 8192


class _ConfigHashes(threading.local):
    def __init__(self) -> None:
        self.by_config: dict[str, bytes] = {}


_config_hashes = _ConfigHashes()


def _config_hash(config: dict[str, Any], loader: DocumentLoader) -> bytes:
    key = _config_key(config) if loader is document_loader else None
    if key is None:
        return _sha256(canonize(config, loader=loader))
    cache = _config_hashes.by_config
    digest = cache.get(key)
    if digest is None:
        digest = _sha256(canonize(config, loader=loader))  # a refusal raises and is not kept
        if len(cache) >= _MAX_CACHED_CONFIGS:
            cache.clear()
        cache[key] = digest
    return digest


def _config_key(config: dict[str, Any]) -> str | None:
    """The configuration as sorted JSON (key order means nothing in JSON-LD), if small."""
    try:
        key = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return key if len(key) <= _MAX_CONFIG_KEY_CHARS else None


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def _sha256_bytes(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
