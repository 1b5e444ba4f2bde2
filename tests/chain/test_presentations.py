"""Verifiable Presentations: the presentation's own proof (eddsa-rdfc-2022 for authentication,
or a Blockcerts Merkle receipt) and each credential it carries."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from badgechain.chain.keys import KeyPair
from badgechain.chain.multibase import multibase_encode_b58
from badgechain.chain.proof import create_proof, signing_input
from badgechain.chain.verify import verify_badge, verify_credential
from tests.conftest import shared_path

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def _peer(name: str) -> dict[str, Any]:
    path = shared_path("interop", "peers", "blockcerts", "v3", name)
    document: dict[str, Any] = json.loads(path.read_bytes())
    return document


def test_the_eddsa_presentation_verifies() -> None:
    data = shared_path("interop", "peers", "blockcerts", "v3", "vp-eddsa-rdfc-2022.json")
    report = verify_badge(data.read_bytes(), now=NOW)
    assert report.verdict == "valid", report.to_json()
    assert report.format == "presentation"
    assert "uFLOeUzjbCkc0K-21LUKrig" in report.check("proof").message  # the challenge
    assert report.check("uid").code == "uid_not_applicable"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"challenge": "another"}, "signature_invalid"),
        ({"domain": "example.com"}, "signature_invalid"),
        ({"proofPurpose": "assertionMethod"}, "proof_purpose_invalid"),
        ({"cryptosuite": "ecdsa-sd-2023"}, "proof_unsupported"),
    ],
)
def test_a_changed_eddsa_proof_is_invalid(change: dict[str, str], code: str) -> None:
    presentation = _peer("vp-eddsa-rdfc-2022.json")
    presentation["proof"].update(change)
    report = verify_credential(presentation, now=NOW)
    assert report.verdict == "invalid"
    assert report.check("proof").code == code


def test_the_mocknet_presentation_and_its_credentials_verify() -> None:
    report = verify_credential(_peer("mocknet-verifiable-presentation.json"), now=NOW)
    assert report.verdict == "valid", report.to_json()
    assert report.check("chain").message == "2 credential(s) verified"


def test_the_tampered_mocknet_presentation_is_invalid() -> None:
    report = verify_credential(_peer("mocknet-verifiable-presentation-tampered.json"), now=NOW)
    assert report.verdict == "invalid"
    assert report.check("proof").code == "blockcerts_hash_mismatch"


def _signed_presentation(holder: KeyPair, credentials: list[dict[str, Any]]) -> dict[str, Any]:
    """Signed as a holder signs: eddsa-rdfc-2022 for authentication, bound to a challenge."""
    presentation: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": holder.did,
        "verifiableCredential": credentials,
    }
    proof = create_proof(presentation, holder, created=NOW)
    del proof["proofValue"]
    proof |= {"proofPurpose": "authentication", "challenge": "abc"}
    signature = holder.sign(signing_input(presentation, proof))
    return presentation | {"proof": proof | {"proofValue": multibase_encode_b58(signature)}}


def test_a_presentation_is_invalid_when_a_credential_in_it_is() -> None:
    holder = KeyPair.generate()
    credential = _peer("mocknet-vc-v2-data-integrity-proof.json")
    good = _signed_presentation(holder, [credential])
    assert verify_credential(good, now=NOW).verdict == "valid"
    forged = copy.deepcopy(credential)
    forged["credentialSubject"]["name"] = "Someone Else"
    bad = _signed_presentation(holder, [credential, forged])
    report = verify_credential(bad, now=NOW)
    assert report.verdict == "invalid"
    assert report.check("chain").code == "presentation_credential_invalid"


def test_the_proof_must_be_the_holders() -> None:
    holder, other = KeyPair.generate(), KeyPair.generate()
    presentation = _signed_presentation(other, [])
    presentation["holder"] = holder.did
    report = verify_credential(presentation, now=NOW)
    assert report.verdict == "invalid"


@pytest.mark.parametrize(
    ("carried", "code"),
    [
        ([{"type": ["VerifiablePresentation"]}], "presentation_invalid"),
        (["eyJhbGciOi.x.y"], "presentation_invalid"),
        ([{}] * 17, "presentation_too_large"),
    ],
)
def test_what_a_presentation_may_carry(carried: list[Any], code: str) -> None:
    presentation = _peer("vp-eddsa-rdfc-2022.json") | {"verifiableCredential": carried}
    report = verify_credential(presentation, now=NOW)
    assert (report.verdict, report.check("vc_model").code) == ("invalid", code)


def test_an_unsigned_presentation_is_invalid() -> None:
    presentation = _peer("vp-eddsa-rdfc-2022.json")
    del presentation["proof"]
    assert verify_credential(presentation, now=NOW).check("proof").code == "proof_missing"
