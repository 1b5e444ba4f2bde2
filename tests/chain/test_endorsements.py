"""Endorsements embedded in a badge (credential, Achievement, issuer Profile; objects and
JWTs) are each verified like a credential, and reported in the `chain` check."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from badgechain.chain.badge import build_achievement, build_credential, build_endorsement
from badgechain.chain.endorsements import MAX_ENDORSEMENTS
from badgechain.chain.keys import KeyPair
from badgechain.chain.multibase import b58decode, multibase_encode_b58
from badgechain.chain.proof import format_created, sign_credential
from badgechain.chain.resolve import Resolvers
from badgechain.chain.verify import Report, verify_badge, verify_credential
from tests.chain.test_jose import eddsa_key, sign_token
from tests.conftest import shared_path

ISSUED = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
ISSUER = KeyPair.from_seed(bytes(range(32)))
EARNER = KeyPair.from_seed(bytes(range(1, 33)))
ENDORSER = KeyPair.from_seed(bytes(range(2, 34)))
ACHIEVEMENT_ID = "urn:uuid:7a1c"


def _endorsement(subject_id: str, **changes: Any) -> dict[str, Any]:
    """A signed EndorsementCredential about `subject_id` (the achievement or the issuer)."""
    endorsement = build_endorsement(
        endorser_did=ENDORSER.did,
        endorsed_uid="z" + "1" * 87,
        comment="Rigorous assessment",
        valid_from=ISSUED,
        credential_id="urn:uuid:e1",
    )
    endorsement["credentialSubject"]["id"] = subject_id
    endorsement.update(changes)
    return sign_credential(endorsement, ENDORSER, created=ISSUED)


def _badge(*, on_credential: list[Any] | None = None, **where: list[Any]) -> dict[str, Any]:
    achievement = build_achievement(
        ISSUER.did,
        achievement_id=ACHIEVEMENT_ID,
        name="Mesh networking",
        description="Routes packets",
        criteria="Lab 3",
    )
    if "achievement" in where:
        achievement["endorsement"] = where["achievement"]
    if "achievement_jwt" in where:
        achievement["endorsementJwt"] = where["achievement_jwt"]
    credential = build_credential(
        issuer_did=ISSUER.did,
        subject_id=EARNER.did,
        achievement=achievement,
        valid_from=ISSUED,
        credential_id="urn:uuid:0b1e",
    )
    if on_credential:
        credential["endorsement"] = list(on_credential)
    if "issuer" in where:
        credential["issuer"]["endorsement"] = where["issuer"]
    return sign_credential(credential, ISSUER, created=ISSUED)


def _verify(badge: dict[str, Any], **kwargs: Any) -> Report:
    return verify_credential(badge, now=kwargs.pop("now", NOW), **kwargs)


def _chain(report: Report) -> tuple[str, str]:
    check = report.check("chain")
    return check.status, check.code


def _garbage_proof(endorsement: dict[str, Any]) -> dict[str, Any]:
    forged = copy.deepcopy(endorsement)
    signature = bytearray(b58decode(forged["proof"]["proofValue"][1:]))
    signature[5] ^= 0xFF
    forged["proof"]["proofValue"] = multibase_encode_b58(bytes(signature))
    return forged


def test_badge_with_a_valid_endorsement_is_valid() -> None:
    report = _verify(_badge(on_credential=[_endorsement(ISSUER.did)]))
    assert report.verdict == "valid", report.to_json()
    assert _chain(report) == ("passed", "endorsements_ok")
    assert "1 endorsement(s) verified" in report.check("chain").message


def test_badge_with_a_garbage_endorsement_proof_is_invalid() -> None:
    forged = _garbage_proof(_endorsement(ISSUER.did))
    report = _verify(_badge(on_credential=[_endorsement(ISSUER.did), forged]))
    assert report.verdict == "invalid"
    assert _chain(report) == ("failed", "endorsement_invalid")
    assert "endorsement[1]" in report.check("chain").message


@pytest.mark.parametrize("where", ["achievement", "issuer"])
def test_endorsements_of_the_achievement_and_the_issuer_are_checked(where: str) -> None:
    subject = ACHIEVEMENT_ID if where == "achievement" else ISSUER.did
    good = _verify(_badge(**{where: [_endorsement(subject)]}))
    assert good.verdict == "valid", good.to_json()
    assert _chain(good) == ("passed", "endorsements_ok")
    bad = _verify(_badge(**{where: [_garbage_proof(_endorsement(subject))]}))
    assert _chain(bad) == ("failed", "endorsement_invalid")


def test_a_changed_endorsement_comment_is_invalid() -> None:
    changed = _endorsement(ISSUER.did)
    changed["credentialSubject"]["endorsementComment"] = "Rubber-stamped"
    assert _chain(_verify(_badge(on_credential=[changed]))) == ("failed", "endorsement_invalid")


def test_an_expired_endorsement_has_lapsed_and_the_badge_stands() -> None:
    expired = _endorsement(ISSUER.did, validUntil=format_created(ISSUED + timedelta(days=1)))
    report = _verify(_badge(on_credential=[expired]))
    assert report.verdict == "valid", report.to_json()
    assert _chain(report) == ("passed", "endorsement_lapsed")


def test_an_endorsement_whose_key_cannot_be_had_is_indeterminate() -> None:
    web = dict(_endorsement(ISSUER.did))
    web["issuer"] = {"id": "did:web:endorser.example", "type": ["Profile"]}
    web["proof"] = dict(web["proof"], verificationMethod="did:web:endorser.example#key-1")
    report = _verify(_badge(on_credential=[web]))
    assert report.verdict == "indeterminate", report.to_json()
    chain = report.check("chain")
    assert (chain.status, chain.code, chain.blocking) == (
        "skipped",
        "endorsement_indeterminate",
        True,
    )


def _endorsement_jwt(subject_id: str) -> str:
    _, sign = eddsa_key()  # the ISSUER seed: a self-endorsement, signed as a VC-JWT
    payload = build_endorsement(
        endorser_did=ISSUER.did,
        endorsed_uid="z" + "1" * 87,
        comment="Also ours",
        valid_from=ISSUED,
        credential_id="urn:uuid:e2",
    )
    payload["credentialSubject"]["id"] = subject_id
    return sign_token({"alg": "EdDSA", "kid": ISSUER.verification_method}, payload, sign)


def _jwt_badge(endorsement_jwts: list[str]) -> bytes:
    """A VC-JWT badge (the OB 3.0.3 context has no `endorsementJwt` term, so a Data Integrity
    badge cannot carry one in safe mode; a VC-JWT can)."""
    badge = _badge()
    del badge["proof"]
    badge["credentialSubject"]["achievement"]["endorsementJwt"] = endorsement_jwts
    _, sign = eddsa_key()
    return sign_token({"alg": "EdDSA", "kid": ISSUER.verification_method}, badge, sign).encode()


def test_endorsement_jwts_are_verified() -> None:
    token = _endorsement_jwt(ACHIEVEMENT_ID)
    report = verify_badge(_jwt_badge([token]), now=NOW)
    assert report.verdict == "valid", report.to_json()
    assert _chain(report) == ("passed", "endorsements_ok")
    head, body, _ = token.split(".")
    other = _endorsement_jwt(ISSUER.did).split(".")[2]  # a signature over another payload
    bad = verify_badge(_jwt_badge([f"{head}.{body}.{other}"]), now=NOW)
    assert _chain(bad) == ("failed", "endorsement_invalid")
    assert "jws_signature_invalid" in bad.check("chain").message
    garbage = verify_badge(_jwt_badge(["not.a-jwt"]), now=NOW)
    assert _chain(garbage) == ("failed", "endorsement_invalid")


def test_too_many_endorsements_are_refused() -> None:
    one = _endorsement(ISSUER.did)
    report = _verify(_badge(on_credential=[one] * (MAX_ENDORSEMENTS + 1)))
    assert _chain(report) == ("failed", "endorsement_too_many")


def test_an_endorsement_is_not_checked_against_the_bns_of_the_badge() -> None:
    """The BNS speaks about the badge; an embedded endorsement is read as any W3C credential."""
    asked: list[str] = []

    def bns(uid: str) -> None:
        asked.append(uid)
        return

    badge = _badge(on_credential=[_endorsement(ISSUER.did)])
    report = _verify(badge, resolvers=Resolvers(bns=bns))
    assert asked == [badge["proof"]["proofValue"]]
    assert _chain(report) == ("passed", "endorsements_ok")


def test_1edtech_complete_is_invalid_through_its_endorsements() -> None:
    """PROVENANCE: INVALID. Its endorsements name keys (`#zvPk…`) no one can read."""
    path = shared_path("interop", "peers", "1edtech-inspector", "ob30", "complete.json")
    report = _verify(json.loads(path.read_text()))
    assert report.verdict == "invalid"
    assert _chain(report) == ("failed", "endorsement_invalid")
