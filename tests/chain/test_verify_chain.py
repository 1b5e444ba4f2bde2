"""Chains of badges (personas, endorsements): the BNS earner rule, loops and the depth bound."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from badgechain.chain.badge import (
    build_achievement,
    build_credential,
    build_endorsement,
    build_genesis,
)
from badgechain.chain.keys import KeyPair
from badgechain.chain.proof import sign_credential
from badgechain.chain.resolve import BnsView, Resolvers
from badgechain.chain.verify import MAX_CHAIN_DEPTH, Report, verify_badge

ISSUED = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
ISSUER = KeyPair.from_seed(bytes([7]) * 32)
EARNER = KeyPair.from_seed(bytes([8]) * 32)
ENDORSER = KeyPair.from_seed(bytes([9]) * 32)
STRANGER = KeyPair.from_seed(bytes([10]) * 32)

Badge = dict[str, Any]


def uid_of(badge: Badge) -> str:
    return str(badge["proof"]["proofValue"])


def genesis(key: KeyPair) -> Badge:
    credential = build_genesis(
        key.did,
        persona_name="Ada at work",
        valid_from=ISSUED,
        credential_id="urn:uuid:genesis",
        achievement_id="urn:uuid:genesis-achievement",
    )
    return sign_credential(credential, key, created=ISSUED)


def badge(issuer: KeyPair, subject: str, name: str = "Mesh networking") -> Badge:
    achievement = build_achievement(
        issuer.did, achievement_id="urn:uuid:a", name=name, description="D", criteria="C"
    )
    credential = build_credential(
        issuer_did=issuer.did,
        subject_id=subject,
        achievement=achievement,
        valid_from=ISSUED,
        credential_id="urn:uuid:b",
    )
    return sign_credential(credential, issuer, created=ISSUED)


def endorsement(endorsed: Badge) -> Badge:
    credential = build_endorsement(
        endorser_did=ENDORSER.did,
        endorsed_uid=uid_of(endorsed),
        comment="Solid work",
        valid_from=ISSUED,
        credential_id="urn:uuid:e",
    )
    return sign_credential(credential, ENDORSER, created=ISSUED)


def held(*badges: Badge) -> dict[str, Badge]:
    return {uid_of(one): one for one in badges}


def bns(entries: Mapping[str, tuple[KeyPair, KeyPair | None]]) -> Callable[[str], BnsView | None]:
    """A BNS resolver over UID → (issuer key, earner key or None)."""

    def resolve(uid: str) -> BnsView | None:
        if uid not in entries:
            return None
        issuer, earner = entries[uid]
        return BnsView(uid=uid, issuer_did=issuer.did, earner=earner.did if earner else None)

    return resolve


def verify(credential: Badge, resolvers: Resolvers) -> Report:
    return verify_badge(json.dumps(credential).encode(), now=NOW, resolvers=resolvers)


def failure(report: Report) -> tuple[str, str]:
    failed = report.failed
    assert failed is not None, report.to_json()
    return failed.name, failed.code


# -- the BNS earner of a chained badge ---------------------------------------------------------


def persona_world(earner_in_entry: KeyPair | None) -> tuple[Badge, Resolvers]:
    persona = genesis(EARNER)
    issued = badge(ISSUER, f"urn:bns:{uid_of(persona)}")
    entries = {uid_of(persona): (EARNER, EARNER), uid_of(issued): (ISSUER, earner_in_entry)}
    return issued, Resolvers(bns=bns(entries), badges=held(persona).get)


def test_a_persona_badge_whose_entry_names_the_genesis_key_is_valid() -> None:
    issued, resolvers = persona_world(EARNER)
    report = verify(issued, resolvers)
    assert report.verdict == "valid", report.to_json()
    assert report.check("chain").code == "ok" and report.check("bns").code == "ok"


def test_a_persona_badge_whose_entry_names_another_key_is_refused() -> None:
    issued, resolvers = persona_world(STRANGER)
    assert failure(verify(issued, resolvers)) == ("bns", "bns_earner_mismatch")


def test_a_persona_badge_whose_entry_names_no_earner_is_valid() -> None:
    # An entry without an earner key leaves the location to the issuer; nothing to compare.
    issued, resolvers = persona_world(None)
    assert verify(issued, resolvers).verdict == "valid"


def test_without_the_chain_the_earner_is_not_judged_but_revocation_still_is() -> None:
    issued, resolvers = persona_world(STRANGER)
    offline = Resolvers(bns=resolvers.bns)
    report = verify(issued, offline)
    assert report.check("bns").code == "earner_unchecked"
    assert report.check("revocation").status == "passed"


def test_an_endorsement_entry_names_the_endorsed_badges_earner() -> None:
    endorsed = badge(ISSUER, EARNER.did)
    endorsing = endorsement(endorsed)

    def resolvers(earner: KeyPair | None) -> Resolvers:
        entries = {uid_of(endorsed): (ISSUER, EARNER), uid_of(endorsing): (ENDORSER, earner)}
        return Resolvers(bns=bns(entries), badges=held(endorsed).get)

    assert verify(endorsing, resolvers(EARNER)).verdict == "valid"
    assert failure(verify(endorsing, resolvers(ENDORSER))) == ("bns", "bns_earner_mismatch")
    assert failure(verify(endorsing, resolvers(ISSUER))) == ("bns", "bns_earner_mismatch")


def test_an_endorsement_of_a_persona_badge_leads_to_the_genesis_key() -> None:
    persona = genesis(EARNER)
    issued = badge(ISSUER, f"urn:bns:{uid_of(persona)}")
    endorsing = endorsement(issued)
    entries = {
        uid_of(persona): (EARNER, EARNER),
        uid_of(issued): (ISSUER, EARNER),
        uid_of(endorsing): (ENDORSER, EARNER),
    }
    resolvers = Resolvers(bns=bns(entries), badges=held(persona, issued).get)
    report = verify(endorsing, resolvers)
    assert report.verdict == "valid", report.to_json()
    assert "3 badge(s)" in report.check("chain").message


def test_a_linked_badge_with_a_wrong_entry_breaks_the_chain() -> None:
    persona = genesis(EARNER)
    issued = badge(ISSUER, f"urn:bns:{uid_of(persona)}")
    entries = {uid_of(persona): (EARNER, STRANGER), uid_of(issued): (ISSUER, EARNER)}
    resolvers = Resolvers(bns=bns(entries), badges=held(persona).get)
    assert failure(verify(issued, resolvers)) == ("chain", "chain_link_invalid")


# -- loops and depth ---------------------------------------------------------------------------


class CountingFetcher:
    """A badge fetcher that counts its calls; `serve` maps a UID to what it answers."""

    def __init__(self, serve: Callable[[str], Badge | None]) -> None:
        self.serve = serve
        self.calls = 0

    def __call__(self, uid: str) -> Badge | None:
        self.calls += 1
        return self.serve(uid)


def test_a_ring_a_b_a_is_refused_as_a_loop_after_one_fetch() -> None:
    # Signed badges cannot form a ring (each UID signs its link), so a lying fetcher serves
    # one: A links to the UID `b_uid`, and the fetcher answers with B, which links to A.
    b_uid = "z" + "3" * 87
    a = badge(ISSUER, f"urn:bns:{b_uid}")
    b = badge(STRANGER, f"urn:bns:{uid_of(a)}")
    fetcher = CountingFetcher({b_uid: b, uid_of(a): a}.get)
    started = time.monotonic()
    report = verify(a, Resolvers(badges=fetcher))
    assert failure(report) == ("chain", "chain_loop")
    assert fetcher.calls == 1
    assert time.monotonic() - started < 2.0


def test_a_badge_served_for_its_own_link_is_a_loop() -> None:
    b_uid = "z" + "4" * 87
    b = badge(ISSUER, f"urn:bns:{b_uid}")
    fetcher = CountingFetcher(lambda uid: b)
    assert failure(verify(b, Resolvers(badges=fetcher))) == ("chain", "chain_loop")
    assert fetcher.calls == 1


def chain_of(length: int) -> tuple[Badge, dict[str, Badge]]:
    """A genesis badge and `length - 1` badges each issued to the one before; the last."""
    keys = [KeyPair.from_seed(bytes([20 + n]) * 32) for n in range(length)]
    top = genesis(keys[0])
    badges = held(top)
    for n, key in enumerate(keys[1:], start=1):
        top = badge(key, f"urn:bns:{uid_of(top)}", name=f"Link {n}")
        badges[uid_of(top)] = top
    return top, badges


def test_a_chain_at_the_bound_verifies() -> None:
    top, badges = chain_of(MAX_CHAIN_DEPTH)
    fetcher = CountingFetcher(badges.get)
    report = verify(top, Resolvers(badges=fetcher))
    assert report.verdict == "valid", report.to_json()
    assert fetcher.calls == MAX_CHAIN_DEPTH - 1


def test_a_chain_of_nine_is_refused_as_too_deep_with_bounded_fetches() -> None:
    top, badges = chain_of(MAX_CHAIN_DEPTH + 1)
    fetcher = CountingFetcher(badges.get)
    started = time.monotonic()
    report = verify(top, Resolvers(badges=fetcher))
    assert failure(report) == ("chain", "chain_too_deep")
    assert fetcher.calls <= MAX_CHAIN_DEPTH - 1
    assert time.monotonic() - started < 10.0
