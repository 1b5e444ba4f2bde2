"""Fresh badges cross-verify with the JavaScript reference stack, both ways, bit for bit."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.keys import KeyPair
from badgechain.chain.proof import sign_credential
from badgechain.chain.verify import verify_badge
from tests.interop.jspeer import JsPeer

pytestmark = pytest.mark.interop

VALID_FROM = datetime(2025, 6, 1, tzinfo=UTC)
CREATED = datetime(2025, 6, 1, 12, 30, tzinfo=UTC)
NOW = datetime(2026, 1, 15, tzinfo=UTC)

# (label, name, description): plain text, non-ASCII, and characters whose N-Quads escaping
# differs between naive writers and RDFC-1.0 (interop NOTES 1: BEL, form feed, DEL, ...).
BADGE_TEXTS = [
    ("plain", "Teamwork", "Worked well in a team of four for a whole term."),
    ("non-ascii", "Ünïcödé 🎓 日本語", "Ærø: naïve café — «quotes», emoji 🧪 and ∑ symbols."),
    ("control", "Bell \u0007 badge", "Line one\nTab\there\fform feed\u0007bell\u007fdel\u0001."),
    ("escapes", 'Quote " and \\ backslash', 'A "quoted" \\path\\ and a\rcarriage return.'),
]
BADGE_PARAMS = [pytest.param(*text, id=text[0]) for text in BADGE_TEXTS]


def seed_for(label: str) -> bytes:
    """A fixed 32-byte seed per test role: fresh keys, but the same on every run."""
    return hashlib.sha256(f"badgechain js interop {label}".encode()).digest()


def stable_urn(label: str, kind: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"https://badgechain.test/{kind}/{label}").urn


def unsigned_badge(issuer: KeyPair, label: str, name: str, description: str) -> dict[str, Any]:
    earner = KeyPair.from_seed(seed_for(f"earner {label}"))
    achievement = build_achievement(
        issuer.did,
        achievement_id=stable_urn(label, "achievement"),
        name=name,
        description=description,
        criteria=f"Criteria for {name}",
    )
    return build_credential(
        issuer_did=issuer.did,
        subject_id=earner.did,
        achievement=achievement,
        valid_from=VALID_FROM,
        credential_id=stable_urn(label, "credential"),
    )


def python_signed(label: str, name: str, description: str) -> dict[str, Any]:
    issuer = KeyPair.from_seed(seed_for(f"python issuer {label}"))
    return sign_credential(
        unsigned_badge(issuer, label, name, description), issuer, created=CREATED
    )


def test_js_derives_the_same_did_key_from_a_seed(js_peer: JsPeer) -> None:
    key = KeyPair.from_seed(seed_for("did derivation"))
    derived = js_peer.key(key.seed)
    assert derived["did"] == key.did
    assert derived["verificationMethod"] == key.verification_method
    assert key.verification_method == f"{key.did}#{key.did.removeprefix('did:key:')}"


def test_python_signed_fresh_badges_verify_in_js(js_peer: JsPeer) -> None:
    badges = [python_signed(*text) for text in BADGE_TEXTS]
    results, elapsed_ms = js_peer.verify_batch(badges)
    assert elapsed_ms > 0
    for (label, _, _), result in zip(BADGE_TEXTS, results, strict=True):
        assert result["verified"], f"{label}: {result['errors']}"
        assert result["errors"] == []


@pytest.mark.parametrize(("label", "name", "description"), BADGE_PARAMS[:3])
def test_js_signed_fresh_badges_verify_in_python(
    js_peer: JsPeer, label: str, name: str, description: str
) -> None:
    seed = seed_for(f"js issuer {label}")
    issuer = KeyPair.from_seed(seed)
    signed = js_peer.sign(unsigned_badge(issuer, label, name, description), seed, CREATED)
    assert signed["proof"]["verificationMethod"] == issuer.verification_method
    report = verify_badge(json.dumps(signed).encode(), now=NOW)
    assert report.verdict == "valid", report.to_json()


@pytest.mark.parametrize(("label", "name", "description"), BADGE_PARAMS)
def test_js_resignature_gives_the_python_uid(
    js_peer: JsPeer, label: str, name: str, description: str
) -> None:
    seed = seed_for(f"shared issuer {label}")
    issuer = KeyPair.from_seed(seed)
    unsigned = unsigned_badge(issuer, label, name, description)
    ours = sign_credential(unsigned, issuer, created=CREATED)
    theirs = js_peer.sign(unsigned, seed, CREATED)
    # Ed25519 is deterministic: same key, same canonical document → same signature (UID).
    assert theirs["proof"]["proofValue"] == ours["proof"]["proofValue"]
    assert theirs == ours


def test_tampered_python_badge_fails_in_js_and_in_python(js_peer: JsPeer) -> None:
    signed = python_signed(*BADGE_TEXTS[0])
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["achievement"]["description"] += " (and more)"
    forged_issuer = copy.deepcopy(signed)
    forged_issuer["issuer"]["id"] = KeyPair.from_seed(seed_for("someone else")).did
    results, _ = js_peer.verify_batch([signed, tampered, forged_issuer])
    assert [result["verified"] for result in results] == [True, False, False]
    assert results[1]["errors"]
    assert results[2]["errors"]
    assert verify_badge(json.dumps(tampered).encode(), now=NOW).verdict == "invalid"
