"""Blockcerts certificates from cert-verifier-js's fixtures (peers/blockcerts), with the verdicts
peers/PROVENANCE.md expects as far as they can be had without a blockchain explorer."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import cbor2
import pytest

from badgechain.chain.multibase import multibase_decode, multibase_encode_b58
from badgechain.chain.resolve import Fetched, Resolvers
from badgechain.chain.verify import CHECK_NAMES, Report, verify_badge, verify_credential
from tests.conftest import shared_path

NOW = datetime(2026, 12, 3, tzinfo=UTC)
SAMPLES = "https://www.blockcerts.org/samples/3.0/"
STATUS_LISTS = {
    SAMPLES + "status-list-2021.json": "blockcerts-status-list-2021.json",
    SAMPLES + "status-list-2021-suspension.json": "blockcerts-status-list-2021-suspension.json",
}


def _read(name: str) -> bytes:
    return shared_path("interop", "peers", "blockcerts", name).read_bytes()


def _verify(name: str, resolvers: Resolvers | None = None) -> Report:
    return verify_badge(_read(name), now=NOW, resolvers=resolvers)


def _served(url: str) -> Fetched | None:
    """The status lists at the URLs the fixtures name (an in-memory DocumentFetcher)."""
    name = STATUS_LISTS.get(url)
    if name is None:
        return None
    return Fetched(url, url, "application/json", _read(name))


@pytest.mark.parametrize(
    "name",
    [
        "v3/mocknet-vc-v2-data-integrity-proof.json",
        "v3/mocknet-vc-v2-validFrom-valid.json",
        "v3/mocknet-vc-v2-credential-subject-array.json",
        "v3/mocknet-vc-v2-name-description-multilingual.json",
    ],
)
def test_mocknet_certificates_are_valid(name: str) -> None:
    report = _verify(name)
    assert report.verdict == "valid", report.to_json()
    assert report.check("proof").code == "mocknet"
    assert report.check("uid").code == "uid_not_applicable"
    assert report.check("bns").code == "bns_not_applicable"
    assert [check.name for check in report.checks] == list(CHECK_NAMES)


@pytest.mark.parametrize(
    ("name", "check", "code"),
    [
        ("v3/mocknet-vc-v2-validUntil-expired.json", "validity", "expired"),
        ("v3/mocknet-vc-v2-validFrom-not-yet-valid.json", "validity", "not_yet_valid"),
        ("v3/mocknet-vc-v2-invalid-date-format.json", "validity", "date_invalid"),
        ("v3/testnet-v3--tampered.json", "proof", "blockcerts_hash_mismatch"),
        ("v2/ethereum-tampered-2.0.json", "proof", "blockcerts_hash_mismatch"),
    ],
)
def test_invalid_certificates(name: str, check: str, code: str) -> None:
    report = _verify(name)
    assert report.verdict == "invalid"
    assert (report.check(check).status, report.check(check).code) == ("failed", code)


@pytest.mark.parametrize(
    "name",
    [
        "v3/testnet-v3-did.json",
        "v2/mainnet-valid-2.0.json",
        "v2/mainnet-merkle-root-unmatch-2.0.json",  # the mismatch is with the chain's record
        "v2/testnet-revoked-key-2.0.json",  # the key's revocation needs the transaction's date
    ],
)
def test_public_chain_anchor_is_indeterminate(name: str) -> None:
    report = _verify(name)
    assert report.verdict == "indeterminate"
    proof = report.check("proof")
    assert (proof.status, proof.code) == ("skipped", "anchor_unverifiable")
    assert "blockchain was not consulted" in proof.message


def test_v1_2_certificate_is_indeterminate() -> None:
    assert _verify("v1/testnet-valid-1.2.json").verdict == "indeterminate"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("v3/cert-rl-status-list-2021-revoked.json", "status_revocation"),
        ("v3/cert-rl-status-list-2021-suspended.json", "status_suspension"),
    ],
)
def test_a_set_status_bit_is_invalid_when_the_list_is_served(name: str, code: str) -> None:
    assert _verify(name).verdict == "indeterminate"  # offline: the list was not read
    report = _verify(name, Resolvers(documents=_served))
    assert report.verdict == "invalid"
    assert (report.check("status").status, report.check("status").code) == ("failed", code)


def test_a_clear_status_bit_from_an_unverified_list_is_not_an_answer() -> None:
    report = _verify("v3/cert-rl-status-list-2021.json", Resolvers(documents=_served))
    assert report.verdict == "indeterminate"
    assert report.check("status").code == "status_list_unverified"


def _mocknet() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(_read("v3/mocknet-vc-v2-data-integrity-proof.json"))
    return document


def test_a_changed_field_breaks_the_hash() -> None:
    document = _mocknet()
    document["credentialSubject"]["name"] = "Someone Else"
    report = verify_credential(document, now=NOW)
    assert report.verdict == "invalid"
    assert report.check("proof").code == "blockcerts_hash_mismatch"


def test_a_receipt_whose_path_misses_the_root_is_invalid() -> None:
    document = _mocknet()
    pairs = cbor2.loads(multibase_decode(document["proof"]["proofValue"]))
    forged = [[0, cbor2.dumps("00" * 32)] if key == 0 else [key, value] for key, value in pairs]
    document["proof"]["proofValue"] = multibase_encode_b58(cbor2.dumps(forged))
    report = verify_credential(document, now=NOW)
    assert report.verdict == "invalid"
    assert report.check("proof").code == "blockcerts_merkle_root_mismatch"


@pytest.mark.parametrize("proof_value", ["zzz", "z" + "1" * 40, 7, "u" + "A" * 30000])
def test_a_garbled_receipt_is_invalid_not_a_crash(proof_value: object) -> None:
    document = copy.deepcopy(_mocknet())
    document["proof"]["proofValue"] = proof_value
    report = verify_credential(document, now=NOW)
    assert report.verdict == "invalid"
    assert report.check("proof").status == "failed"


ISSUER = SAMPLES + "issuer-blockcerts.json"


def _issuer_server(revoked: list[str] | None) -> Resolvers:
    """The issuer profile (peers/blockcerts) and, when given, a revocation list naming `revoked`."""
    profile = _read("issuer-blockcerts.json")
    list_url = json.loads(profile)["revocationList"]
    listing = json.dumps({"id": list_url, "revokedAssertions": revoked or []}).encode()
    served = {ISSUER: profile} | ({list_url: listing} if revoked is not None else {})

    def fetch(url: str) -> Fetched | None:
        body = served.get(url)
        return None if body is None else Fetched(url, url, "application/json", body)

    return Resolvers(documents=fetch)


def test_the_issuer_profiles_revocation_list_is_read_online() -> None:
    document = _mocknet()
    assert verify_credential(document, now=NOW).check("revocation").code == "no_resolver"
    online = verify_credential(document, now=NOW, resolvers=_issuer_server([]))
    assert (online.verdict, online.check("revocation").code) == ("valid", "ok")
    revoked = verify_credential(document, now=NOW, resolvers=_issuer_server([document["id"]]))
    assert (revoked.verdict, revoked.check("revocation").code) == ("invalid", "revoked")


def test_an_unserved_revocation_list_is_reported_not_blocking() -> None:
    report = verify_credential(_mocknet(), now=NOW, resolvers=_issuer_server(None))
    assert report.verdict == "valid"
    assert report.check("revocation").code == "revocation_list_not_found"


def test_an_unserved_status_list_is_a_failure() -> None:
    report = _verify("v3/cert-rl-status-list-2021.json", Resolvers(documents=lambda url: None))
    assert report.verdict == "invalid"
    assert report.check("status").code == "status_list_not_found"
