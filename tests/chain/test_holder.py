"""Holder presentations and stapled status (issue 14 items 1-2): chain/holder.py and
chain/staple.py, with the BNS record read by bns/staple_reader.py."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.bns.record import Record, entry_from_badge, make_revocation
from badgechain.bns.staple_reader import record_staple_extra
from badgechain.chain.badge import build_achievement, build_credential, build_genesis
from badgechain.chain.holder import Binding, build_presentation, sign_presentation
from badgechain.chain.holder import verify_holder_presentation as verify_holder
from badgechain.chain.keys import KeyPair
from badgechain.chain.multibase import multibase_decode
from badgechain.chain.proof import sign_credential
from badgechain.chain.report import Report
from badgechain.chain.resolve import BnsView, Resolvers, Unreachable
from badgechain.chain.staple import build_staple, credential_uid_text
from badgechain.chain.stapled import STAPLES_PROPERTY
from badgechain.chain.statuslist import (
    STATUS_LIST_FETCHER,
    build_list_credential,
    empty_bits,
    set_bit,
    status_entry,
)
from badgechain.chain.uid import Uid
from badgechain.chain.verify import verify_badge, verify_credential

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
ISSUER = KeyPair.from_seed(bytes(range(32)))
HOLDER = KeyPair.from_seed(bytes(range(1, 33)))
OTHER = KeyPair.from_seed(bytes(range(2, 34)))
URL = "https://issuer.example/status/AAAAAAAAAAAA"
INDEX = 7
BINDING = Binding("c-123", "verifier.example")
OFFLINE = Resolvers(extra=record_staple_extra())


def _badge(
    subject: str, *, issuer: KeyPair = ISSUER, status: bool = True, url: str = URL
) -> dict[str, Any]:
    achievement = build_achievement(
        issuer.did,
        achievement_id="https://issuer.example/classes/1",
        name="Welding",
        description="Welds",
        criteria="Welded",
    )
    unsigned = build_credential(
        issuer_did=issuer.did,
        subject_id=subject,
        achievement=achievement,
        valid_from=NOW - 24 * HOUR,
        credential_id=f"urn:uuid:{subject[-12:]}-1",
        credential_status=status_entry(url, INDEX) if status else None,
    )
    return sign_credential(unsigned, issuer, created=NOW - 24 * HOUR)


def _list(*, revoked: bool = False, valid_until: datetime = NOW + HOUR / 2) -> dict[str, Any]:
    bits = empty_bits()
    if revoked:
        set_bit(bits, INDEX)
    unsigned = build_list_credential(
        ISSUER.did, URL, bits, "revocation", valid_until - HOUR, valid_until, 3_600_000
    )
    return sign_credential(unsigned, ISSUER, created=valid_until - HOUR)


def _record(
    badge: dict[str, Any],
    *,
    revoked: bool = False,
    earner: KeyPair = HOLDER,
    created_at: datetime = NOW - 24 * HOUR,
) -> bytes:
    created = int(created_at.timestamp())
    entry = entry_from_badge(badge, ISSUER, earner.public_key, created)
    revocation = None
    if revoked:
        revocation = make_revocation(ISSUER, entry.uid, "cheated", int(NOW.timestamp()) - 60)
    return Record(entry, revocation=revocation).to_wire_bytes()


def _staple(badge: dict[str, Any], **changes: Any) -> dict[str, Any]:
    uid = changes.pop("uid", credential_uid_text(badge))
    lists = changes.pop("lists", [_list()])
    record = changes.pop("record", _record(badge))
    return build_staple(uid, lists, record)


def _presentation(
    credentials: list[dict[str, Any]],
    staples: list[dict[str, Any]] = (),  # type: ignore[assignment]
    *,
    key: KeyPair = HOLDER,
    binding: Binding = BINDING,
) -> dict[str, Any]:
    unsigned = build_presentation(key.did, credentials, list(staples))
    return sign_presentation(unsigned, key, binding, created=NOW)


def _verify(presentation: object, resolvers: Resolvers = OFFLINE, **kw: Any) -> Report:
    return verify_holder(
        presentation,
        kw.get("binding", BINDING),
        now=kw.get("now", NOW),
        resolvers=resolvers,
        verify_credential=verify_credential,
    )


def _credential_check(report: Report) -> str:
    return report.check("chain").message


# -- presentations ----------------------------------------------------------------------------


def test_a_holders_presentation_with_a_fresh_staple_verifies_offline() -> None:
    badge = _badge(HOLDER.did)
    report = _verify(_presentation([badge], [_staple(badge)]))
    assert report.verdict == "valid", report.to_json()
    assert report.check("proof").status == "passed"
    assert report.check("issuer_key").message.endswith(HOLDER.did)


def test_without_a_staple_an_offline_verifier_is_indeterminate() -> None:
    report = _verify(_presentation([_badge(HOLDER.did)]))
    assert report.verdict == "indeterminate"
    assert "status" in _credential_check(report)


def test_someone_elses_badge_is_refused() -> None:
    badge = _badge(OTHER.did)
    report = _verify(_presentation([badge], [_staple(badge)]))
    assert report.verdict == "invalid"
    assert report.check("issuer_key").code == "presentation_not_holder"


def test_a_copy_presented_by_another_key_is_refused() -> None:
    badge = _badge(HOLDER.did)
    report = _verify(_presentation([badge], [_staple(badge)], key=OTHER))
    assert report.check("issuer_key").code == "presentation_not_holder"


@pytest.mark.parametrize(
    ("binding", "code"),
    [
        (Binding("another", "verifier.example"), "challenge_mismatch"),
        (Binding("c-123", "evil.example"), "domain_mismatch"),
    ],
)
def test_the_challenge_and_domain_must_be_the_verifiers(binding: Binding, code: str) -> None:
    badge = _badge(HOLDER.did)
    report = _verify(_presentation([badge], [_staple(badge)]), binding=binding)
    assert report.verdict == "invalid"
    assert report.check("proof").code == code


def test_a_changed_challenge_breaks_the_signature() -> None:
    badge = _badge(HOLDER.did)
    presentation = _presentation([badge], [_staple(badge)])
    presentation["proof"]["challenge"] = "c-999"
    report = _verify(presentation, binding=Binding("c-999", "verifier.example"))
    assert report.check("proof").code == "signature_invalid"


def test_the_staples_are_signed_by_the_holder() -> None:
    badge = _badge(HOLDER.did)
    presentation = _presentation([badge], [_staple(badge)])
    presentation[STAPLES_PROPERTY]["@value"] = []
    assert _verify(presentation).check("proof").code == "signature_invalid"


def test_a_persona_held_badge_is_presented_with_its_genesis_badge() -> None:
    genesis = sign_credential(
        build_genesis(
            HOLDER.did,
            persona_name="Work",
            valid_from=NOW - 48 * HOUR,
            credential_id="urn:uuid:genesis",
            achievement_id="urn:uuid:genesis-class",
        ),
        HOLDER,
        created=NOW - 48 * HOUR,
    )
    badge = _badge("urn:bns:" + str(credential_uid_text(genesis)))
    report = _verify(_presentation([badge, genesis], [_staple(badge)]))
    assert report.verdict == "valid", report.to_json()
    alone = _verify(_presentation([badge], [_staple(badge)]))
    assert alone.check("issuer_key").code == "presentation_not_holder"


# -- stapled status ---------------------------------------------------------------------------


def _stapled_single(
    badge: dict[str, Any], staple: dict[str, Any], resolvers: Resolvers = OFFLINE
) -> Report:
    document = {"type": "StapledCredential", "verifiableCredential": badge, "staple": staple}
    return verify_credential(document, now=NOW, resolvers=resolvers)


def test_a_single_stapled_badge_says_it_used_the_staple() -> None:
    badge = _badge(HOLDER.did)
    report = _stapled_single(badge, _staple(badge))
    assert report.verdict == "valid", report.to_json()
    assert report.check("status").code == "stapled"
    assert report.check("bns").code == "stapled"
    assert "fresh until 2026-06-01T12:30:00" in report.check("status").message


def test_a_stale_staple_offline_is_indeterminate() -> None:
    badge = _badge(HOLDER.did)
    staple = _staple(badge, lists=[_list(valid_until=NOW - HOUR)])
    report = _stapled_single(badge, staple)
    assert report.verdict == "indeterminate"
    assert report.check("status").code == "staple_stale"
    in_presentation = _verify(_presentation([badge], [staple]))
    assert in_presentation.verdict == "indeterminate"


def test_a_forged_list_is_reported_and_ignored() -> None:
    badge = _badge(HOLDER.did)
    clear = copy.deepcopy(_list(revoked=True))
    clear["credentialSubject"]["encodedList"] = _list()["credentialSubject"]["encodedList"]
    report = _stapled_single(badge, _staple(badge, lists=[clear]))
    assert report.verdict == "indeterminate"
    assert report.check("status").code == "staple_forged"


def test_a_forged_record_is_reported_and_ignored() -> None:
    badge = _badge(HOLDER.did)
    record = bytearray(_record(badge, revoked=True))
    record[-1] ^= 1  # the revocation's signature
    report = _stapled_single(badge, _staple(badge, lists=[], record=bytes(record)))
    assert report.verdict == "indeterminate"
    assert report.check("status").code == "staple_forged"


def test_a_staple_for_another_uid_is_reported_and_ignored() -> None:
    badge, other = _badge(HOLDER.did), _badge(OTHER.did)
    report = _stapled_single(badge, _staple(other))
    assert report.verdict == "indeterminate"
    assert report.check("status").code == "staple_uid_mismatch"
    wrong_record = _staple(badge, record=_record(other, earner=OTHER), lists=[])
    assert _stapled_single(badge, wrong_record).check("status").code == "staple_uid_mismatch"
    stray = _verify(_presentation([badge], [_staple(badge), _staple(other)]))
    assert "staple_uid_mismatch" in _credential_check(stray)


def test_a_stapled_revocation_holds_for_good() -> None:
    badge = _badge(HOLDER.did)
    staple = _staple(badge, lists=[], record=_record(badge, revoked=True))
    report = _stapled_single(badge, staple)
    assert report.verdict == "invalid"
    assert report.check("revocation").code == "revoked"
    assert "staple" in report.check("revocation").message


def test_a_badge_revoked_after_its_staple_is_invalid_once_a_fresher_answer_is_reachable() -> None:
    badge = _badge(HOLDER.did)
    staple = _staple(badge)  # made while the badge stood
    assert _stapled_single(badge, staple).verdict == "valid"
    uid = str(credential_uid_text(badge))
    revoked = BnsView(uid=uid, issuer_did=ISSUER.did, earner=HOLDER.did, revoked=True)
    fresher_list = _list(revoked=True, valid_until=NOW + HOUR)
    online = Resolvers(
        bns=lambda asked: revoked,
        extra={**record_staple_extra(), STATUS_LIST_FETCHER: lambda url: fresher_list},
    )
    report = _stapled_single(badge, staple, online)
    assert report.verdict == "invalid"
    assert report.check("revocation").code == "revoked"
    assert report.check("status").code == "status_revocation"
    in_presentation = _verify(_presentation([badge], [staple]), online)
    assert in_presentation.verdict == "invalid"


def test_an_unreachable_network_falls_back_to_the_staple() -> None:
    badge = _badge(HOLDER.did)

    def away(_: str) -> Any:
        raise Unreachable("the DHT did not answer")

    resolvers = Resolvers(
        bns=away,
        bns_publishes=lambda did: True,
        extra={**record_staple_extra(), STATUS_LIST_FETCHER: away},
    )
    report = _stapled_single(badge, _staple(badge), resolvers)
    assert report.verdict == "valid", report.to_json()
    assert report.check("status").code == "stapled"


def test_a_record_without_a_list_answers_only_near_its_signed_time() -> None:
    badge = _badge(HOLDER.did, status=False)
    old = _staple(badge, lists=[])  # its entry signed a day ago: says nothing of now
    assert _stapled_single(badge, old).check("bns").code == "no_resolver"
    recent = _staple(badge, lists=[], record=_record(badge, created_at=NOW - HOUR / 2))
    report = _stapled_single(badge, recent)
    assert report.verdict == "valid", report.to_json()
    assert report.check("bns").code == "stapled"
    assert report.check("revocation").code == "stapled"


def test_verify_badge_reads_a_stapled_badge_from_bytes() -> None:
    import json

    badge = _badge(HOLDER.did)
    document = {
        "type": "StapledCredential",
        "verifiableCredential": badge,
        "staple": _staple(badge),
    }
    report = verify_badge(json.dumps(document).encode(), now=NOW, resolvers=OFFLINE)
    assert report.verdict == "valid", report.to_json()
    assert Uid(multibase_decode(str(report.uid)))


def test_a_stapled_revocation_holds_where_the_network_lacks_it() -> None:
    badge = _badge(HOLDER.did)
    uid = str(credential_uid_text(badge))
    standing = BnsView(uid=uid, issuer_did=ISSUER.did, earner=HOLDER.did)  # a replica behind
    online = Resolvers(bns=lambda asked: standing, extra=record_staple_extra())
    staple = _staple(badge, record=_record(badge, revoked=True))
    report = _stapled_single(badge, staple, online)
    assert report.verdict == "invalid"
    assert report.check("revocation").code == "revoked"


def test_an_offline_presentation_report_says_the_staple_answered() -> None:
    badge = _badge(HOLDER.did)
    report = _verify(_presentation([badge], [_staple(badge)]))
    message = report.check("chain").message
    assert message.startswith("1 credential(s) verified; 1 answered from the holder's staple")
    assert "fresh until 2026-06-01T12:30:00" in message


def test_a_fresh_list_the_badge_does_not_name_does_not_vouch_for_an_old_record() -> None:
    badge = _badge(HOLDER.did)
    elsewhere = build_list_credential(
        ISSUER.did, URL + "x", empty_bits(), "revocation", NOW - HOUR / 2, NOW + HOUR / 2, 1
    )
    other_list = sign_credential(elsewhere, ISSUER, created=NOW - HOUR / 2)
    report = _stapled_single(badge, _staple(badge, lists=[other_list]))
    assert report.verdict == "indeterminate"
    assert report.check("status").code == "staple_invalid"
    assert report.check("bns").code == "no_resolver"  # the record's silence is not used


def test_a_stapled_list_answers_no_longer_than_its_ttl() -> None:
    badge = _badge(HOLDER.did)
    unsigned = build_list_credential(
        ISSUER.did, URL, empty_bits(), "revocation", NOW - 2 * HOUR, NOW + 10 * HOUR, 3_600_000
    )
    long_lived = sign_credential(unsigned, ISSUER, created=NOW - 2 * HOUR)
    report = _stapled_single(badge, _staple(badge, lists=[long_lived]))
    assert report.verdict == "indeterminate"  # validFrom + ttl (1 h) has passed
    assert report.check("status").code == "staple_stale"


def test_a_list_signed_by_another_issuer_is_a_forged_staple_and_ignored() -> None:
    badge = _badge(HOLDER.did)
    unsigned = build_list_credential(
        OTHER.did, URL, empty_bits(), "revocation", NOW - HOUR / 2, NOW + HOUR / 2, 3_600_000
    )
    theirs = sign_credential(unsigned, OTHER, created=NOW - HOUR / 2)
    report = _stapled_single(badge, _staple(badge, lists=[theirs]))
    assert report.verdict == "indeterminate"
    assert report.check("status").code == "staple_forged"


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=255))
def test_a_flipped_byte_in_a_stapled_record_never_answers(position: int, flip: int) -> None:
    badge = _badge(HOLDER.did)
    record = bytearray(_record(badge, revoked=True))
    record[position % len(record)] ^= flip
    report = _stapled_single(badge, _staple(badge, record=bytes(record)))
    assert len(report.checks) == 12
    # A record that still decodes and verifies is the genuine one (a flip in slack bytes):
    # it says revoked. Anything else is ignored, and said to be: the fresh list alone answers.
    if report.verdict == "invalid":
        assert report.check("revocation").code == "revoked", report.to_json()
    else:
        assert report.verdict == "valid", report.to_json()
        bns = report.check("bns")
        assert bns.code == "no_resolver" and "staple ignored (staple_" in bns.message, bns


@settings(max_examples=40, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_any_json_as_a_staple_is_reported_never_raised(staple: object) -> None:
    badge = _badge(HOLDER.did)
    report = _stapled_single(
        badge,
        {
            "type": "BadgeStaple",
            "uid": credential_uid_text(badge),
            "statusLists": staple,
            "bnsRecord": staple,
        },
    )
    assert report.verdict == "indeterminate"
    presentation = _presentation([badge], [])
    presentation[STAPLES_PROPERTY] = {"@type": "@json", "@value": staple}
    assert len(_verify(presentation).checks) == 12
