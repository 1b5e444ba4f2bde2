"""VC 1.1 credentials with Ed25519Signature2020 proofs and the legacy `eddsa-2022` name:
verified, and valid with a warning, as 1EdTech's validator treats them."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from badgechain.chain.keys import KeyPair
from badgechain.chain.multibase import multibase_encode_b58
from badgechain.chain.proof import signing_input
from badgechain.chain.resolve import Resolvers, Unreachable
from badgechain.chain.statuslist import STATUS_LIST_FETCHER
from badgechain.chain.verify import Report, verify_badge, verify_credential
from tests.conftest import shared_path

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ED25519_2020_CONTEXT = "https://w3id.org/security/suites/ed25519-2020/v1"
VC1_CONTEXT = "https://www.w3.org/2018/credentials/v1"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
KEY = KeyPair.from_seed(bytes(range(5, 37)))


def _ob30(name: str) -> Path:
    return shared_path("interop", "peers", "1edtech-inspector", "ob30", name)


def _verify_file(name: str, **kwargs: Any) -> Report:
    return verify_badge(_ob30(name).read_bytes(), now=NOW, **kwargs)


def _codes(report: Report) -> dict[str, tuple[str, str]]:
    return {check.name: (check.status, check.code) for check in report.checks}


def test_simple_v1_is_valid_with_warnings() -> None:
    """PROVENANCE: VALID+WARNING (VC 1.1 context + Ed25519Signature2020)."""
    report = _verify_file("simple_v1.json")
    assert report.verdict == "valid", report.to_json()
    codes = _codes(report)
    assert codes["vc_model"] == ("passed", "vc_v1_data_model")
    assert codes["proof"] == ("passed", "legacy_proof_suite")


def test_legacy_eddsa_2022_name_is_valid_with_a_warning() -> None:
    """PROVENANCE: VALID+WARNING (cryptosuite `eddsa-2022`)."""
    report = _verify_file("simple-eddsa-2022.json")
    assert report.verdict == "valid", report.to_json()
    assert _codes(report)["proof"] == ("passed", "legacy_proof_suite")


def test_a_changed_v1_credential_fails_its_ed25519_2020_proof() -> None:
    credential = json.loads(_ob30("simple_v1.json").read_text())
    credential["name"] = "Leadership Badge"
    report = verify_credential(credential, now=NOW)
    assert report.verdict == "invalid"
    assert _codes(report)["proof"] == ("failed", "signature_invalid")


def test_complete_v1_is_invalid() -> None:
    """PROVENANCE: INVALID (its key `#key-1` names no key we can read; schema errors)."""
    assert _verify_file("complete_v1.json").verdict == "invalid"


def _revoked_issuer_document(credential: dict[str, Any]) -> dict[str, Any]:
    """A DID document as dc.1edtech.org would serve it (Ed25519VerificationKey2020), built from
    the key the verification method's fragment names; the real one is not in the corpus."""
    vm = credential["proof"]["verificationMethod"]
    did, _, fragment = vm.partition("#")
    method = {
        "id": vm,
        "type": "Ed25519VerificationKey2020",
        "controller": did,
        "publicKeyMultibase": fragment,
    }
    return {"id": did, "verificationMethod": [method], "assertionMethod": [vm]}


def _unreachable(url: str) -> dict[str, Any]:
    raise Unreachable(f"offline: {url}")


def test_revoked_1edtech_credential_is_never_valid_without_its_list() -> None:
    """PROVENANCE: INVALID when the 1EdTechRevocationList is reachable; it is not in the
    corpus, so the best answer is indeterminate, never valid."""
    credential = json.loads(_ob30("credential-status-revoked.json").read_text())
    document = _revoked_issuer_document(credential)
    resolvers = Resolvers(
        did_documents=lambda did: document if did == document["id"] else None,
        extra={STATUS_LIST_FETCHER: _unreachable},
    )
    report = verify_credential(credential, now=NOW, resolvers=resolvers)
    codes = _codes(report)
    assert codes["issuer_key"] == ("passed", "ok")
    assert codes["proof"] == ("passed", "legacy_proof_suite")
    assert report.verdict != "valid"
    offline = verify_credential(credential, now=NOW)
    assert offline.verdict == "indeterminate"


def _v1_credential() -> dict[str, Any]:
    return {
        "@context": [VC1_CONTEXT, OB_CONTEXT, ED25519_2020_CONTEXT],
        "id": "urn:uuid:5d0c",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": "Rope access",
        "issuer": {"id": KEY.did, "type": ["Profile"]},
        "issuanceDate": "2025-01-01T00:00:00Z",
        "credentialSubject": {
            "id": KeyPair.from_seed(bytes(32)).did,
            "type": ["AchievementSubject"],
            "achievement": {
                "id": "urn:uuid:a1",
                "type": ["Achievement"],
                "name": "Rope access",
                "description": "Level 1",
                "criteria": {"narrative": "Course and exam"},
            },
        },
    }


def _sign_2020(credential: dict[str, Any]) -> dict[str, Any]:
    """Ed25519Signature2020 as its spec builds it: the proof options (canonicalized in the
    document's context) and the document, each hashed, concatenated, signed; base58btc."""
    proof = {
        "type": "Ed25519Signature2020",
        "created": "2025-01-01T00:00:00Z",
        "verificationMethod": KEY.verification_method,
        "proofPurpose": "assertionMethod",
    }
    signature = KEY.sign(signing_input(credential, proof))
    return credential | {"proof": proof | {"proofValue": multibase_encode_b58(signature)}}


def test_our_own_ed25519_2020_signature_round_trips_with_a_confirmed_key() -> None:
    report = verify_credential(_sign_2020(_v1_credential()), now=NOW)
    assert report.verdict == "valid", report.to_json()
    codes = _codes(report)
    assert codes["issuer_key"] == ("passed", "ok")
    assert codes["proof"] == ("passed", "legacy_proof_suite")


def test_ed25519_2020_without_its_context_is_refused() -> None:
    credential = _v1_credential()
    credential["@context"] = [VC1_CONTEXT, OB_CONTEXT]
    signed = _sign_2020_unchecked(credential)
    report = verify_credential(signed, now=NOW)
    assert report.verdict == "invalid"
    assert _codes(report)["proof"][0] == "failed"


def _sign_2020_unchecked(credential: dict[str, Any]) -> dict[str, Any]:
    """A proof whose type the document's contexts do not define: signed over garbage bytes."""
    proof = {
        "type": "Ed25519Signature2020",
        "created": "2025-01-01T00:00:00Z",
        "verificationMethod": KEY.verification_method,
        "proofPurpose": "assertionMethod",
        "proofValue": multibase_encode_b58(KEY.sign(b"\0" * 64)),
    }
    return credential | {"proof": proof}


def test_a_vc2_credential_still_needs_valid_from_shape() -> None:
    """VC 2.0 checks are unchanged: issuanceDate is not a VC 2.0 term."""
    credential = copy.deepcopy(_v1_credential())
    credential["@context"][0] = "https://www.w3.org/ns/credentials/v2"
    report = verify_credential(credential, now=NOW)
    assert _codes(report)["vc_model"][1] != "vc_v1_data_model"


@pytest.mark.parametrize(
    ("name", "verdict", "warning"),
    [
        ("simple_v1.json", "valid", ("vc_model", "vc_v1_data_model")),
        ("simple-eddsa-2022.json", "valid", ("proof", "legacy_proof_suite")),
        ("simple-jwt_v1.png", "valid", ("vc_model", "vc_v1_data_model")),
        ("simple-jwt_v1.svg", "valid", ("vc_model", "vc_v1_data_model")),
        ("complete_v1.json", "invalid", None),
        ("velocity.jwt", "invalid", None),
    ],
)
def test_provenance_verdicts(name: str, verdict: str, warning: tuple[str, str] | None) -> None:
    """PROVENANCE.md: VALID+WARNING is valid with a passed check carrying a warning code."""
    report = _verify_file(name)
    assert report.verdict == verdict, report.to_json()
    if warning is not None:
        check = report.check(warning[0])
        assert (check.status, check.code) == ("passed", warning[1])
