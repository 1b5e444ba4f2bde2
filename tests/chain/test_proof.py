"""Data Integrity proofs against the W3C vc-di-eddsa and 1EdTech OB 3.0 vectors, byte for byte."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from badgechain.chain.errors import BadgeChainError, CanonicalizationError, ProofError
from badgechain.chain.jsonld import canonize
from badgechain.chain.keys import KeyPair, public_key_from_did_key, public_key_from_multikey
from badgechain.chain.proof import create_proof, proof_list, signing_input, verify_proof
from tests.chain.conftest import key_from_secret_multikey
from tests.conftest import shared_path

CREATED = datetime(2023, 2, 24, 23, 36, 38, tzinfo=UTC)


def _vectors(*parts: str) -> Path:
    return shared_path("interop", "vectors", *parts)


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def _text(path: Path) -> str:
    return path.read_text().strip()


def _unsigned(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if key != "proof"}


@pytest.mark.parametrize(
    ("folder", "unsigned_name"),
    [("eddsa-rdfc-2022", "unsigned.json"), ("eddsa-rdfc-2022/employ", "employmentAuth.json")],
)
def test_rdfc_vectors_reproduced_byte_for_byte(
    folder: str, unsigned_name: str, shared_loader: Any
) -> None:
    base = _vectors("vc-di-eddsa", folder)
    unsigned = _json(_vectors("vc-di-eddsa", unsigned_name))
    config = _json(base / "proofConfigDataInt.json")
    key = key_from_secret_multikey(
        _json(_vectors("vc-di-eddsa", "keyPair.json"))["privateKeyMultibase"]
    )

    canonical_doc = canonize(unsigned, loader=shared_loader)
    assert canonical_doc.strip() == _text(base / "canonDocDataInt.txt")
    assert hashlib.sha256(canonical_doc.encode()).hexdigest() == _text(base / "docHashDataInt.txt")
    assert canonize(config, loader=shared_loader).strip() == _text(base / "proofCanonDataInt.txt")

    proof = {name: value for name, value in config.items() if name != "@context"}
    assert signing_input(unsigned, proof, loader=shared_loader).hex() == _text(
        base / "combinedHashDataInt.txt"
    )
    created = datetime.fromisoformat(config["created"])
    made = create_proof(unsigned, key, created=created, loader=shared_loader)
    assert made["proofValue"] == _text(base / "sigBTC58DataInt.txt")
    assert made == _json(base / "signedDataInt.json")["proof"]


def test_rdfc_signed_vector_verifies_and_tampering_fails(shared_loader: Any) -> None:
    signed = _json(_vectors("vc-di-eddsa", "eddsa-rdfc-2022", "signedDataInt.json"))
    key = public_key_from_did_key(signed["proof"]["verificationMethod"].split("#")[0])
    assert verify_proof(signed, signed["proof"], key, loader=shared_loader).ok
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["alumniOf"] = "Another School"
    result = verify_proof(tampered, tampered["proof"], key, loader=shared_loader)
    assert (result.ok, result.code) == (False, "signature_invalid")


def test_jcs_vector_verifies_and_tampering_fails(shared_loader: Any) -> None:
    base = _vectors("vc-di-eddsa", "eddsa-jcs-2022")
    signed = _json(base / "signedJCS.json")
    proof = signed["proof"]
    key = public_key_from_did_key(proof["verificationMethod"].split("#")[0])
    assert signing_input(signed, proof).hex() == _text(base / "combinedHashJCS.txt")
    assert verify_proof(signed, proof, key).ok
    tampered = copy.deepcopy(signed)
    tampered["name"] = "Forged"
    assert verify_proof(tampered, tampered["proof"], key).code == "signature_invalid"
    # The proof's @context must prefix the document's (vc-di-eddsa, eddsa-jcs-2022 verification).
    mismatched = copy.deepcopy(signed)
    mismatched["@context"] = ["https://www.w3.org/ns/credentials/v2"]
    assert verify_proof(mismatched, mismatched["proof"], key).code == "proof_context_mismatch"


@pytest.mark.parametrize(
    "name",
    [
        "signedProofSet1.json",
        "signedProofSet2.json",
        "signedProofChain1.json",
        "signedProofChain2.json",
    ],
)
def test_proof_sets_and_chains_verify(name: str, shared_loader: Any) -> None:
    signed = _json(_vectors("vc-di-eddsa", "proof-set-chain", name))
    for proof in proof_list(signed):
        key = public_key_from_did_key(proof["verificationMethod"].split("#")[0])
        result = verify_proof(signed, proof, key, loader=shared_loader)
        assert result.ok, result.message


def test_proof_chain_with_missing_previous_proof_is_broken(shared_loader: Any) -> None:
    signed = _json(_vectors("vc-di-eddsa", "proof-set-chain", "signedProofChain2.json"))
    chained = next(proof for proof in signed["proof"] if "previousProof" in proof)
    signed["proof"] = [chained]
    key = public_key_from_did_key(chained["verificationMethod"].split("#")[0])
    assert verify_proof(signed, chained, key, loader=shared_loader).code == "proof_chain_broken"


def test_proof_chain_made_here_verifies(shared_loader: Any) -> None:
    keys = _json(_vectors("vc-di-eddsa", "proof-set-chain", "multiKeyPairs.json"))
    first, second = (
        key_from_secret_multikey(keys[name]["privateKeyMultibase"])
        for name in ("keyPair1", "keyPair2")
    )
    doc = _json(_vectors("vc-di-eddsa", "proof-set-chain", "unsigned.json"))
    doc["proof"] = [
        create_proof(doc, first, created=CREATED, proof_id="urn:uuid:one", loader=shared_loader)
    ]
    doc["proof"].append(
        create_proof(
            doc, second, created=CREATED, previous_proof="urn:uuid:one", loader=shared_loader
        )
    )
    for proof, key in zip(doc["proof"], (first, second), strict=True):
        assert verify_proof(doc, proof, key.public_key, loader=shared_loader).ok


def test_open_badges_implementation_guide_vector() -> None:
    base = _vectors("ob-v3p0-impl-guide")
    facts = _json(base / "keypair-and-hashes.json")
    credential = _json(base / "credential.json")
    canonical = canonize(credential)
    assert canonical.strip() == _text(base / "document-canon.txt")
    assert hashlib.sha256(canonical.encode()).hexdigest() == facts["documentHashHex"]
    proof = facts["proofConfig_without_context"]
    assert signing_input(credential, proof).hex() == facts["dataToSignHex"]
    seed = bytes.fromhex(facts["privateKeyHex_seed_plus_public"])[:32]
    made = create_proof(
        credential,
        KeyPair(seed),
        created=datetime(2010, 1, 1, 19, 23, 24, tzinfo=UTC),
        verification_method=facts["verificationMethod"],
    )
    assert made["proofValue"] == facts["proofValue"]
    signed = _json(base / "signed-credential.json")
    public = public_key_from_multikey(facts["publicKeyMultibase"])
    assert verify_proof(signed, proof_list(signed)[0], public).ok


@pytest.mark.parametrize(
    "name",
    [
        "py-signed-ob.json",
        "py-signed-ob-proof-array.json",
        "js-signed-ob.json",
        "js-resigned-py-ob.json",
    ],
)
def test_generated_cross_stack_credentials_verify(name: str) -> None:
    signed = _json(_vectors("generated", name))
    proof = proof_list(signed)[0]
    key = public_key_from_did_key(proof["verificationMethod"].split("#")[0])
    assert verify_proof(signed, proof, key).ok


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("py-signed-ob-undefined-property.json", "jsonld_undefined_term"),
        ("py-signed-ob-undefined-type.json", "jsonld_relative_iri"),
    ],
)
def test_safe_mode_rejects_the_negative_vectors(name: str, code: str) -> None:
    signed = _json(_vectors("generated", "negative", name))
    proof = proof_list(signed)[0]
    key = public_key_from_did_key(proof["verificationMethod"].split("#")[0])
    assert verify_proof(signed, proof, key).code == code
    with pytest.raises(CanonicalizationError) as caught:
        canonize(_unsigned(signed))
    assert caught.value.code == code


def test_unknown_context_is_refused_without_fetching() -> None:
    doc = {
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://evil.example/ctx.json"],
        "type": "VerifiableCredential",
    }
    with pytest.raises(BadgeChainError) as caught:
        canonize(doc)
    assert caught.value.code == "context_unknown"


def test_proof_value_must_be_a_64_byte_signature() -> None:
    signed = _json(_vectors("generated", "py-signed-ob.json"))
    proof = dict(proof_list(signed)[0], proofValue="z1111")
    key = public_key_from_did_key(proof["verificationMethod"].split("#")[0])
    assert verify_proof(signed, proof, key).code == "proof_value_invalid"
    with pytest.raises(ProofError):
        signing_input(signed, dict(proof, cryptosuite="eddsa-9999"))
