"""VC-JWTs whose key is found through the header `kid`: did:key (Ed25519, P-256), did:web
through the DID resolver, a JWKS URL through the document fetcher; and what the report says
when the key cannot be had."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.keys import KeyPair
from badgechain.chain.multibase import multibase_encode_b58
from badgechain.chain.resolve import Fetched, Resolvers, Unreachable
from badgechain.chain.verify import Report, verify_badge
from tests.chain.test_jose import P256_SECRET, Signer, eddsa_key, es256_key, sign_token
from tests.conftest import shared_path

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ISSUED = datetime(2026, 1, 10, tzinfo=UTC)
EARNER = KeyPair.from_seed(bytes(range(1, 33)))
ED25519_ISSUER = KeyPair.from_seed(bytes(range(32)))  # the seed eddsa_key() signs with
WEB_DID = "did:web:issuer.example"
JWKS_URL = "https://issuer.example/.well-known/jwks.json"


def _p256_did() -> str:
    point = ec.derive_private_key(P256_SECRET, ec.SECP256R1()).public_key()
    compressed = point.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    return "did:key:" + multibase_encode_b58(b"\x80\x24" + compressed)


def _payload(issuer: str) -> dict[str, Any]:
    achievement = build_achievement(
        issuer, achievement_id="urn:uuid:a7", name="Knots", description="Ties", criteria="Tie"
    )
    return build_credential(
        issuer_did=issuer,
        subject_id=EARNER.did,
        achievement=achievement,
        valid_from=ISSUED,
        credential_id="urn:uuid:c7",
    )


def _token(issuer: str, header: dict[str, Any], signer: Signer) -> bytes:
    return sign_token(
        {"alg": header.pop("alg", "ES256"), **header}, _payload(issuer), signer
    ).encode()


def _verify(token: bytes, **resolvers: Any) -> Report:
    return verify_badge(token, now=NOW, resolvers=Resolvers(**resolvers))


def _codes(report: Report) -> dict[str, tuple[str, str]]:
    return {check.name: (check.status, check.code) for check in report.checks}


def test_ed25519_did_key_kid_confirms_the_issuer() -> None:
    _, sign = eddsa_key()
    did = ED25519_ISSUER.did
    report = _verify(_token(did, {"alg": "EdDSA", "kid": ED25519_ISSUER.verification_method}, sign))
    assert report.verdict == "valid", report.to_json()
    assert _codes(report)["issuer_key"] == ("passed", "ok")


def test_p256_did_key_kid_confirms_the_issuer() -> None:
    _, sign = es256_key()
    did = _p256_did()
    report = _verify(_token(did, {"kid": f"{did}#{did[8:]}"}, sign))
    assert report.verdict == "valid", report.to_json()
    assert _codes(report)["issuer_key"] == ("passed", "ok")


def _did_web_document(jwk: dict[str, Any]) -> dict[str, Any]:
    vm = {"id": "#key-1", "type": "JsonWebKey2020", "controller": WEB_DID, "publicKeyJwk": jwk}
    return {"id": WEB_DID, "verificationMethod": [vm], "assertionMethod": ["#key-1"]}


def test_did_web_kid_is_read_from_the_did_document() -> None:
    jwk, sign = es256_key()
    token = _token(WEB_DID, {"kid": f"{WEB_DID}#key-1"}, sign)
    documents = {WEB_DID: _did_web_document(jwk)}
    report = _verify(token, did_documents=documents.get)
    assert report.verdict == "valid", report.to_json()
    assert _codes(report)["issuer_key"] == ("passed", "ok")
    # A relative kid is read against the issuer's DID.
    relative = _verify(_token(WEB_DID, {"kid": "#key-1"}, sign), did_documents=documents.get)
    assert relative.verdict == "valid", relative.to_json()


def test_did_web_kid_offline_is_indeterminate() -> None:
    _, sign = es256_key()
    report = _verify(_token(WEB_DID, {"kid": f"{WEB_DID}#key-1"}, sign))
    assert report.verdict == "indeterminate"
    assert _codes(report)["proof"][0] == "skipped"


def test_did_web_kid_missing_from_the_document_is_invalid() -> None:
    jwk, sign = es256_key()
    token = _token(WEB_DID, {"kid": f"{WEB_DID}#key-2"}, sign)
    report = _verify(token, did_documents={WEB_DID: _did_web_document(jwk)}.get)
    assert report.verdict == "invalid"
    assert _codes(report)["issuer_key"] == ("failed", "verification_method_unknown")


def test_kid_of_another_did_than_the_issuer_is_a_mismatch() -> None:
    _, sign = eddsa_key()
    token = _token(EARNER.did, {"alg": "EdDSA", "kid": ED25519_ISSUER.verification_method}, sign)
    assert _codes(_verify(token))["issuer_key"] == ("failed", "issuer_key_mismatch")


def test_a_header_jwk_does_not_override_a_kid() -> None:
    """Signed by an attacker key given as `jwk`, but naming the issuer's key as `kid`."""
    attacker_jwk, attacker_sign = es256_key()
    did = ED25519_ISSUER.did
    header = {"kid": ED25519_ISSUER.verification_method, "jwk": attacker_jwk}
    report = _verify(_token(did, header, attacker_sign))
    assert report.verdict == "invalid"
    assert _codes(report)["proof"][0] == "failed"


def _jwks_fetcher(jwks: dict[str, Any] | None) -> Any:
    def fetch(url: str) -> Fetched | None:
        if url != JWKS_URL or jwks is None:
            return None
        return Fetched(url, url, "application/json", json.dumps(jwks).encode())

    return fetch


def test_jwks_kid_on_the_issuers_origin_confirms_the_key() -> None:
    jwk, sign = es256_key()
    token = _token("https://issuer.example/profile", {"kid": f"{JWKS_URL}#k1"}, sign)
    fetch = _jwks_fetcher({"keys": [{"kid": "k0", **eddsa_key()[0]}, {"kid": "k1", **jwk}]})
    report = _verify(token, documents=fetch)
    assert report.verdict == "valid", report.to_json()
    assert _codes(report)["issuer_key"] == ("passed", "ok")


def test_jwks_on_another_origin_verifies_unconfirmed() -> None:
    jwk, sign = es256_key()
    token = _token("https://other.example/profile", {"kid": f"{JWKS_URL}#k1"}, sign)
    report = _verify(token, documents=_jwks_fetcher({"keys": [{"kid": "k1", **jwk}]}))
    assert report.verdict == "valid", report.to_json()
    assert _codes(report)["issuer_key"] == ("skipped", "issuer_key_unconfirmed")


def _unreachable(url: str) -> Fetched | None:
    raise Unreachable(f"offline: {url}")


@pytest.mark.parametrize(
    ("documents", "verdict", "code"),
    [
        (None, "indeterminate", "unreachable"),
        (_unreachable, "indeterminate", "unreachable"),
        (_jwks_fetcher(None), "invalid", "jws_key_not_found"),
        (_jwks_fetcher({"keys": [{"kid": "k9", "kty": "EC"}]}), "invalid", "jws_key_not_found"),
        (_jwks_fetcher({"keys": "nope"}), "invalid", "jws_key_invalid"),
    ],
)
def test_jwks_that_cannot_be_had(documents: Any, verdict: str, code: str) -> None:
    _, sign = es256_key()
    token = _token("https://issuer.example/profile", {"kid": f"{JWKS_URL}#k1"}, sign)
    report = _verify(token, documents=documents)
    assert report.verdict == verdict, report.to_json()
    assert _codes(report)["issuer_key"][1] == code


def test_tampered_payload_fails_with_the_kid_key() -> None:
    _, sign = eddsa_key()
    token = _token(
        ED25519_ISSUER.did, {"alg": "EdDSA", "kid": ED25519_ISSUER.verification_method}, sign
    )
    header, payload, signature = token.split(b".")
    forged = sign_token({"alg": "EdDSA"}, {"x": 1}, sign).split(".")[1].encode()
    report = _verify(b".".join([header, forged, signature]))
    assert report.verdict == "invalid"
    tampered = _verify(b".".join([header, payload, signature[:-2] + b"AA"]))
    assert _codes(tampered)["proof"] == ("failed", "jws_signature_invalid")


def test_velocity_jwt_with_an_unresolvable_did_method_is_invalid() -> None:
    """PROVENANCE: INVALID (kid did:velocity:…)."""
    path = shared_path("interop", "peers", "1edtech-inspector", "ob30", "velocity.jwt")
    report = verify_badge(path.read_bytes(), now=NOW)
    assert report.verdict == "invalid"


def test_iss_naming_another_issuer_is_refused() -> None:
    _, sign = eddsa_key()
    payload = _payload(ED25519_ISSUER.did) | {"iss": EARNER.did}
    header = {"alg": "EdDSA", "kid": ED25519_ISSUER.verification_method}
    report = _verify(sign_token(header, payload, sign).encode())
    assert report.verdict == "invalid"
    assert _codes(report)["issuer_key"] == ("failed", "jwt_iss_mismatch")
    matching = _payload(ED25519_ISSUER.did) | {"iss": ED25519_ISSUER.did}
    assert _verify(sign_token(header, matching, sign).encode()).verdict == "valid"
