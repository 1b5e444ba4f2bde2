"""badge.blue award records: ES256 over DAG-CBOR of the record without its proof, the key from
the issuer's JWKS (served here by an in-memory DocumentFetcher)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from badgechain.chain.badgeblue import dag_cbor, signed_bytes
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.resolve import Fetched, Resolvers
from badgechain.chain.verify import verify_badge, verify_credential
from tests.conftest import shared_path

NOW = datetime(2026, 12, 3, tzinfo=UTC)
JWKS_URL = "https://issuer.test/.well-known/jwks.json"
KID = "test-key-1"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _record() -> dict[str, Any]:
    return {
        "$type": "blue.badge.award",
        "badge": {
            "cid": "bafyreifbq7wub6wfuntruagvaaivqsinxyc4mpbfagjka35v4wx7aeu3fe",
            "name": "Test badge",
            "uri": "at://did:plc:issuer/blue.badge.definition/1",
        },
        "did": "did:plc:earner",
        "issued": "2024-08-26T22:14:02.000Z",
    }


def _sign(record: dict[str, Any], key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    der = key.sign(signed_bytes(record), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return {**record, "proof": {"k": f"{JWKS_URL}#{KID}", "s": _b64url(raw)}}


def _jwks_fetcher(key: ec.EllipticCurvePrivateKey) -> Resolvers:
    numbers = key.public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "kid": KID,
        "x": _b64url(numbers.x.to_bytes(32, "big")).rstrip("="),
        "y": _b64url(numbers.y.to_bytes(32, "big")).rstrip("="),
    }
    body = json.dumps({"keys": [jwk]}).encode()

    def fetch(url: str) -> Fetched | None:
        return Fetched(url, url, "application/json", body) if url == JWKS_URL else None

    return Resolvers(documents=fetch)


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_a_signed_record_verifies(key: ec.EllipticCurvePrivateKey) -> None:
    report = verify_credential(_sign(_record(), key), now=NOW, resolvers=_jwks_fetcher(key))
    assert report.verdict == "valid", report.to_json()
    assert report.format == "badgeblue"
    assert report.check("proof").status == "passed"
    assert report.check("bns").code == "bns_not_applicable"


def test_a_changed_record_is_invalid(key: ec.EllipticCurvePrivateKey) -> None:
    signed = _sign(_record(), key)
    signed["did"] = "did:plc:someone-else"
    report = verify_credential(signed, now=NOW, resolvers=_jwks_fetcher(key))
    assert report.verdict == "invalid"
    assert report.check("proof").code == "signature_invalid"


def test_another_key_is_invalid(key: ec.EllipticCurvePrivateKey) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    report = verify_credential(_sign(_record(), other), now=NOW, resolvers=_jwks_fetcher(key))
    assert report.check("proof").code == "signature_invalid"


def test_offline_is_indeterminate(key: ec.EllipticCurvePrivateKey) -> None:
    report = verify_credential(_sign(_record(), key), now=NOW)
    assert report.verdict == "indeterminate"
    assert report.check("proof").blocking


def test_dag_cbor_sorts_keys_by_length_then_bytes() -> None:
    encoded = dag_cbor({"bb": 1, "a": 2, "c": [True, None]})
    assert list(cbor2.loads(encoded)) == ["a", "c", "bb"]
    with pytest.raises(BadgeChainError):
        dag_cbor({"x": 1.5})


def test_the_badge_blue_sample_needs_its_jwks() -> None:
    data = shared_path("interop", "peers", "badgeblue", "award-record.json").read_bytes()
    report = verify_badge(data, now=NOW)
    assert report.verdict == "indeterminate"
    assert report.check("ob_structure").status == "passed"
    elsewhere = Resolvers(documents=lambda url: None)  # the JWKS is gone: a real answer
    assert verify_badge(data, now=NOW, resolvers=elsewhere).verdict == "invalid"


@pytest.mark.parametrize(
    ("proof", "code"),
    [
        ({"k": f"{JWKS_URL}#{KID}", "s": "not base64 !"}, "proof_value_invalid"),
        ({"k": f"{JWKS_URL}#{KID}", "s": _b64url(b"\x00" * 63)}, "proof_value_invalid"),
        ({"k": f"{JWKS_URL}#missing", "s": _b64url(b"\x01" * 64)}, "verification_method_unknown"),
        (
            {"k": "http://insecure.test/jwks#k", "s": _b64url(b"\x01" * 64)},
            "verification_method_invalid",
        ),
    ],
)
def test_malformed_proofs_are_invalid(
    key: ec.EllipticCurvePrivateKey, proof: dict[str, str], code: str
) -> None:
    record = _record() | {"proof": proof}
    report = verify_credential(record, now=NOW, resolvers=_jwks_fetcher(key))
    assert (report.verdict, report.check("proof").code) == ("invalid", code)


@pytest.mark.parametrize(
    "body", [b"[]", b'{"keys": 5}', b'{"keys": [{"kid": "test-key-1", "kty": "OKP"}]}', b"\xff"]
)
def test_a_bad_jwks_is_invalid_not_a_crash(key: ec.EllipticCurvePrivateKey, body: bytes) -> None:
    def fetch(url: str) -> Fetched | None:
        return Fetched(url, url, "application/json", body)

    report = verify_credential(_sign(_record(), key), now=NOW, resolvers=Resolvers(documents=fetch))
    assert report.verdict == "invalid"
    assert report.check("proof").status == "failed"


def test_a_record_with_a_float_is_refused(key: ec.EllipticCurvePrivateKey) -> None:
    record = _sign(_record(), key) | {"score": 0.5}  # DAG-CBOR for atproto has no floats
    report = verify_credential(record, now=NOW, resolvers=_jwks_fetcher(key))
    assert (report.verdict, report.check("proof").code) == ("invalid", "badgeblue_record_invalid")
