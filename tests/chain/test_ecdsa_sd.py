"""ecdsa-sd-2023: derived proofs verify (1EdTech's derived credential, and one derived here
with mandatory statements and a did:key P-256 issuer); base proofs are refused."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.ecdsa_sd import parse_derived_proof_value
from badgechain.chain.errors import ProofError
from badgechain.chain.jsonld import canonize
from badgechain.chain.keys import KeyPair
from badgechain.chain.multibase import b64url_encode, multibase_encode_b58
from badgechain.chain.nquads import BlankNode, Quad, parse_nquads, serialize_quad
from badgechain.chain.verify import Report, verify_badge, verify_credential
from tests.conftest import shared_path

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ISSUED = datetime(2026, 1, 10, tzinfo=UTC)
ISSUER_KEY = ec.derive_private_key(0x5EED5EED5EED5EED, ec.SECP256R1())
EPHEMERAL_KEY = ec.derive_private_key(0xE9E9E9E9E9E9, ec.SECP256R1())
HMAC_KEY = bytes(range(32))


def _peer(*parts: str) -> Any:
    return shared_path("interop", "peers", *parts)


def _derived_1edtech() -> dict[str, Any]:
    path = _peer("1edtech-inspector", "ob30", "sd", "derivedcredential.json")
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def _codes(report: Report) -> dict[str, tuple[str, str]]:
    return {check.name: (check.status, check.code) for check in report.checks}


def test_1edtech_derived_credential_is_valid() -> None:
    """PROVENANCE: VALID (ecdsa-sd-2023 derived, P-256 key in the verification method URL)."""
    report = verify_credential(_derived_1edtech(), now=NOW)
    assert report.verdict == "valid", report.to_json()
    codes = _codes(report)
    assert codes["proof"] == ("passed", "ok")
    assert codes["uid"] == ("skipped", "uid_not_applicable")
    assert codes["issuer_key"] == ("skipped", "issuer_key_unconfirmed")


def test_a_changed_disclosed_statement_fails() -> None:
    document = _derived_1edtech()
    document["credentialSubject"]["achievement"]["name"] = "Leadership"
    report = verify_credential(document, now=NOW)
    assert _codes(report)["proof"] == ("failed", "signature_invalid")


def test_a_withheld_statement_fails() -> None:
    document = _derived_1edtech()
    del document["issuer"]["url"]
    assert _codes(verify_credential(document, now=NOW))["proof"] == ("failed", "signature_invalid")


def test_another_issuer_key_fails() -> None:
    document = _derived_1edtech()
    other = _multikey(ec.derive_private_key(7, ec.SECP256R1()).public_key())
    document["proof"][0]["verificationMethod"] = f"https://1edtech.edu/issuers/565049#{other}"
    assert _codes(verify_credential(document, now=NOW))["proof"] == ("failed", "signature_invalid")


def test_blockcerts_base_proof_is_refused() -> None:
    """PROVENANCE: INVALID (a base proof: only derived proofs verify)."""
    path = _peer("blockcerts", "v3", "ecdsa-sd-2023-signed-credential.json")
    report = verify_badge(path.read_bytes(), now=NOW)
    assert report.verdict == "invalid"
    assert _codes(report)["proof"] == ("failed", "proof_base_not_verifiable")


@pytest.mark.parametrize(
    ("proof_value", "code"),
    [
        ("u2V0A" + "A" * 40, "proof_base_not_verifiable"),
        ("u2V0BoA", "proof_value_invalid"),  # CBOR {} : not five components
        ("z2V0B", "proof_value_invalid"),
        (
            "u" + b64url_encode(b"\xd9\x5d\x01" + cbor2.dumps([b"", b"", [], {}, []])),
            "proof_value_invalid",
        ),
    ],
)
def test_malformed_proof_values_are_refused(proof_value: str, code: str) -> None:
    document = _derived_1edtech()
    document["proof"][0]["proofValue"] = proof_value
    report = verify_credential(document, now=NOW)
    assert report.verdict == "invalid"
    assert _codes(report)["proof"] == ("failed", code)


# -- a derived proof made here, following the spec's derivation by hand --------------------


def _multikey(public_key: ec.EllipticCurvePublicKey) -> str:
    point = public_key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    return multibase_encode_b58(b"\x80\x24" + point)


def _sign(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _derive(document: dict[str, Any], mandatory: list[int]) -> dict[str, Any]:
    did = "did:key:" + _multikey(ISSUER_KEY.public_key())
    proof = {
        "type": "DataIntegrityProof",
        "cryptosuite": "ecdsa-sd-2023",
        "created": "2026-01-10T00:00:00Z",
        "verificationMethod": f"{did}#{did[8:]}",
        "proofPurpose": "assertionMethod",
    }
    quads = parse_nquads(canonize(document))
    labels = sorted(
        {t.label for q in quads for t in (q.subject, q.object, q.graph) if isinstance(t, BlankNode)}
    )
    hmacs = {label: hmac.new(HMAC_KEY, label.encode(), hashlib.sha256).digest() for label in labels}

    def rename(term: Any) -> Any:
        return (
            BlankNode("u" + b64url_encode(hmacs[term.label]))
            if isinstance(term, BlankNode)
            else term
        )

    statements = sorted(
        serialize_quad(Quad(rename(q.subject), q.predicate, rename(q.object), rename(q.graph)))
        for q in quads
    )
    config = dict(proof, **{"@context": document["@context"]})
    proof_hash = hashlib.sha256(canonize(config).encode()).digest()
    mandatory_hash = hashlib.sha256("".join(statements[i] for i in mandatory).encode()).digest()
    ephemeral = b"\x80\x24" + EPHEMERAL_KEY.public_key().public_bytes(
        Encoding.X962, PublicFormat.CompressedPoint
    )
    base = _sign(ISSUER_KEY, proof_hash + ephemeral + mandatory_hash)
    others = [line for i, line in enumerate(statements) if i not in mandatory]
    components = [
        base,
        ephemeral,
        [_sign(EPHEMERAL_KEY, line.encode()) for line in others],
        {int(label[4:]): digest for label, digest in hmacs.items()},
        mandatory,
    ]
    value = "u" + b64url_encode(b"\xd9\x5d\x01" + cbor2.dumps(components))
    return document | {"proof": proof | {"proofValue": value}}


def _p256_badge() -> dict[str, Any]:
    did = "did:key:" + _multikey(ISSUER_KEY.public_key())
    achievement = build_achievement(
        did,
        achievement_id="urn:uuid:a9",
        name="Sailing",
        description="Dinghy",
        criteria="Capsize drill",
    )
    return build_credential(
        issuer_did=did,
        subject_id=KeyPair.from_seed(bytes(32)).did,
        achievement=achievement,
        valid_from=ISSUED,
        credential_id="urn:uuid:c9",
    )


def test_a_derived_proof_with_mandatory_statements_and_a_did_key_issuer() -> None:
    derived = _derive(_p256_badge(), mandatory=[0, 2, 5])
    report = verify_credential(derived, now=NOW)
    assert report.verdict == "valid", report.to_json()
    assert _codes(report)["issuer_key"] == ("passed", "ok")
    changed = copy.deepcopy(derived)
    changed["name"] = "Rowing"
    assert _codes(verify_credential(changed, now=NOW))["proof"] == ("failed", "signature_invalid")


@settings(derandomize=True, database=None, deadline=None, max_examples=300)
@given(
    st.binary(max_size=300)
    | st.builds(
        cbor2.dumps,
        st.recursive(
            st.none() | st.integers() | st.binary(max_size=70),
            lambda inner: (
                st.lists(inner, max_size=6) | st.dictionaries(st.integers(), inner, max_size=4)
            ),
            max_leaves=20,
        ),
    )
)
def test_any_derived_proof_value_is_parsed_or_refused(body: bytes) -> None:
    value = "u" + b64url_encode(b"\xd9\x5d\x01" + body)
    code = "ok"
    try:
        parse_derived_proof_value(value)
    except ProofError as exc:
        code = exc.code
    assert code in {"ok", "proof_value_invalid"}
