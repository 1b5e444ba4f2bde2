"""Bitstring Status List: the bit codec, list credentials, every rejection, the verifier's
status check, and other issuers' lists from ../shared/interop."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.keys import KeyPair, build_did_web_document
from badgechain.chain.proof import create_proof, sign_credential
from badgechain.chain.resolve import BnsView, Resolvers, Unreachable
from badgechain.chain.statuslist import (
    MIN_LIST_BITS,
    STATUS_LIST_FETCHER,
    StatusListError,
    build_list_credential,
    check_list_credential,
    check_status,
    decode_bits,
    empty_bits,
    encode_bits,
    get_bit,
    list_proof_verifier,
    set_bit,
    status_entry,
)
from badgechain.chain.verify import Report, verify_credential
from tests.conftest import shared_path

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ISSUER = KeyPair.from_seed(bytes(range(32)))
OTHER = KeyPair.from_seed(bytes(range(2, 34)))
EARNER = KeyPair.from_seed(bytes(range(1, 33)))
URL = "https://issuer.example/status/AAAAAAAAAAAA"
HOUR = timedelta(hours=1)
VERIFY = list_proof_verifier(None)


def _list(
    bits: bytes | bytearray | None = None,
    *,
    key: KeyPair = ISSUER,
    issuer: str | None = None,
    url: str = URL,
    purpose: str = "revocation",
    valid_from: datetime = NOW - HOUR / 2,
    valid_until: datetime = NOW + HOUR / 2,
) -> dict[str, Any]:
    unsigned = build_list_credential(
        issuer or key.did,
        url,
        empty_bits() if bits is None else bits,
        purpose,
        valid_from,
        valid_until,
        3_600_000,
    )
    return sign_credential(unsigned, key, created=valid_from)


def _revoked(*indexes: int) -> bytearray:
    bits = empty_bits()
    for index in indexes:
        set_bit(bits, index)
    return bits


def _check(list_credential: object, index: int | str = 7, **entry: Any) -> bool:
    return check_status(
        list_credential,
        status_entry(URL, 0) | {"statusListIndex": str(index)} | entry,
        credential_issuer=ISSUER.did,
        now=NOW,
        verify_list_proof=VERIFY,
    )


def _code(list_credential: object, index: int | str = 7, **entry: Any) -> str:
    with pytest.raises(StatusListError) as caught:
        _check(list_credential, index, **entry)
    return caught.value.code


# --- the bitstring ---------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.sets(st.integers(min_value=0, max_value=MIN_LIST_BITS - 1), max_size=40))
def test_encode_decode_round_trip(indexes: set[int]) -> None:
    bits = _revoked(*indexes)
    encoded = encode_bits(bits)
    assert encoded.startswith("u") and "=" not in encoded
    decoded = decode_bits(encoded)
    assert decoded == bits
    assert {i for i in range(MIN_LIST_BITS) if get_bit(decoded, i)} == indexes


def test_bit_zero_is_the_first_bytes_most_significant_bit() -> None:
    bits = _revoked(0, 9)
    assert bits[:2] == bytes([0b1000_0000, 0b0100_0000])


def test_interop_example_decodes_to_its_listed_bits() -> None:
    example = json.loads(
        shared_path(
            "interop", "examples", "bitstring-status-list", "encoded-bits-0-23-94567.json"
        ).read_text()
    )
    bits = decode_bits(example["encodedList"])
    assert len(bits) * 8 == MIN_LIST_BITS
    assert [i for i in range(MIN_LIST_BITS) if get_bit(bits, i)] == example["set"]
    # Our encoding of the same bits decodes identically (gzip headers may differ: NOTES 11).
    assert decode_bits(encode_bits(bits)) == bits


def test_w3c_example_list_is_all_clear_and_unsigned() -> None:
    example = json.loads(
        shared_path(
            "interop", "examples", "bitstring-status-list", "status-list-credential.json"
        ).read_text()
    )
    assert decode_bits(example["credentialSubject"]["encodedList"]) == bytes(MIN_LIST_BITS // 8)
    entry = status_entry(example["id"], 94567)
    with pytest.raises(StatusListError) as caught:
        check_status(
            example, entry, credential_issuer=example["issuer"], now=NOW, verify_list_proof=VERIFY
        )
    assert caught.value.code == "status_list_unsigned"


def test_gzip_bomb_is_refused() -> None:
    bomb = "u" + base64.urlsafe_b64encode(gzip.compress(bytes(17 * 1024 * 1024))).decode()
    with pytest.raises(StatusListError) as caught:
        decode_bits(bomb.rstrip("="))
    assert caught.value.code == "status_list_too_large"
    with pytest.raises(StatusListError):
        decode_bits(encode_bits(empty_bits()), max_bytes=1024)


@pytest.mark.parametrize(
    "encoded",
    ["", "zabc", "u!!!", "u" + base64.urlsafe_b64encode(b"not gzip").decode(), 42, "u" * 5_000_000],
)
def test_malformed_encoded_lists_are_refused(encoded: object) -> None:
    with pytest.raises(StatusListError) as caught:
        decode_bits(encoded)
    assert caught.value.code == "status_list_invalid"


def test_truncated_gzip_is_refused() -> None:
    packed = gzip.compress(bytes(_revoked(5)))
    text = "u" + base64.urlsafe_b64encode(packed[: len(packed) // 2]).decode().rstrip("=")
    with pytest.raises(StatusListError):
        decode_bits(text)


# --- entries and list credentials -----------------------------------------------------------


def test_status_entry_shape() -> None:
    assert status_entry(URL, 94567) == {
        "id": f"{URL}#94567",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "94567",
        "statusListCredential": URL,
    }


def test_list_credential_shape() -> None:
    unsigned = build_list_credential(ISSUER.did, URL, empty_bits(), "revocation", NOW, NOW, 5)
    assert unsigned["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert unsigned["id"] == URL and unsigned["issuer"] == ISSUER.did
    subject = unsigned["credentialSubject"]
    assert subject["id"] == f"{URL}#list" and subject["type"] == "BitstringStatusList"
    assert subject["ttl"] == 5 and decode_bits(subject["encodedList"]) == empty_bits()


def test_clear_and_set_bits_are_read() -> None:
    signed = _list(_revoked(7, 131_071))
    assert _check(signed, 7) is True
    assert _check(signed, 131_071) is True
    assert _check(signed, 8) is False


def test_did_web_issuer_signs_through_its_document() -> None:
    did = "did:web:school.example"
    unsigned = build_list_credential(did, URL, _revoked(3), "revocation", NOW, NOW + HOUR, 1)
    signed = unsigned | {
        "proof": create_proof(unsigned, ISSUER, created=NOW, verification_method=f"{did}#key-1")
    }
    document = build_did_web_document(did, ISSUER)
    entry = status_entry(URL, 3)
    verify = list_proof_verifier(lambda name: document if name == did else None)
    assert check_status(signed, entry, credential_issuer=did, now=NOW, verify_list_proof=verify)
    with pytest.raises(Unreachable):  # no DID resolver: the key cannot be read now
        check_status(signed, entry, credential_issuer=did, now=NOW, verify_list_proof=VERIFY)


# --- rejections ------------------------------------------------------------------------------


def test_unsigned_list_is_rejected() -> None:
    unsigned = {name: value for name, value in _list().items() if name != "proof"}
    assert _code(unsigned) == "status_list_unsigned"


def test_flipped_bit_under_the_old_proof_is_rejected() -> None:
    signed = _list()
    forged = copy.deepcopy(signed)
    forged["credentialSubject"]["encodedList"] = encode_bits(_revoked(7))
    assert _check(signed) is False
    assert _code(forged) == "status_list_signature_invalid"


def test_list_of_another_key_is_rejected() -> None:
    assert _code(_list(key=OTHER)) == "status_list_wrong_signer"  # issued and signed by OTHER
    assert _code(_list(key=OTHER, issuer=ISSUER.did)) == "status_list_wrong_signer"


def test_truncated_list_is_rejected() -> None:
    short = _list(bytes(1024))
    assert _code(short) == "status_list_too_short"
    cut = copy.deepcopy(_list())
    cut["credentialSubject"]["encodedList"] = encode_bits(bytes(1024))
    assert _code(cut) == "status_list_signature_invalid"


def test_stale_lists_are_rejected() -> None:
    expired = _list(valid_from=NOW - 2 * HOUR, valid_until=NOW - HOUR)
    assert _code(expired) == "status_list_stale"
    future = _list(valid_from=NOW + HOUR, valid_until=NOW + 2 * HOUR)
    assert _code(future) == "status_list_stale"


def test_purpose_mismatch_is_rejected() -> None:
    assert _code(_list(purpose="suspension")) == "status_list_purpose_mismatch"
    assert _code(_list(), statusPurpose="suspension") == "status_list_purpose_mismatch"


def test_list_served_at_another_url_is_rejected() -> None:
    elsewhere = _list(url="https://issuer.example/status/BBBBBBBBBBBB")
    assert _code(elsewhere) == "status_list_url_mismatch"


def test_a_signed_list_that_names_no_url_is_rejected() -> None:
    """Without its own id a list could be replayed at any of its issuer's list URLs."""
    unsigned = build_list_credential(
        ISSUER.did, URL, _revoked(), "revocation", NOW - HOUR, NOW + HOUR, 3_600_000
    )
    del unsigned["id"]
    nameless = sign_credential(unsigned, ISSUER, created=NOW - HOUR)
    assert _code(nameless) == "status_list_url_mismatch"


@pytest.mark.parametrize("index", ["-1", "07", "7.0", "x", "", str(MIN_LIST_BITS), "9" * 20])
def test_bad_indexes_are_rejected(index: str) -> None:
    assert _code(_list(), index) == "status_index_invalid"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda doc: doc.update(type=["VerifiableCredential"]),
        lambda doc: doc["credentialSubject"].update(encodedList="zabc"),
        lambda doc: doc.update(validUntil="tomorrow"),
    ],
)
def test_malformed_lists_are_rejected(mangle: Any) -> None:
    unsigned = build_list_credential(ISSUER.did, URL, empty_bits(), "revocation", NOW, NOW, 1)
    unsigned["validUntil"] = "2026-06-01T13:00:00Z"
    mangle(unsigned)
    assert _code(sign_credential(unsigned, ISSUER, created=NOW)) == "status_list_invalid"
    assert _code([1, 2]) == "status_list_invalid"


# --- the verifier's status check -------------------------------------------------------------


def _badge(index: int, status: Any = None) -> dict[str, Any]:
    achievement = build_achievement(
        ISSUER.did, achievement_id="urn:uuid:7a1c", name="Mesh", description="D", criteria="C"
    )
    credential = build_credential(
        issuer_did=ISSUER.did,
        subject_id=EARNER.did,
        achievement=achievement,
        valid_from=NOW - 2 * HOUR,
        credential_id="urn:uuid:0b1e",
        credential_status=status_entry(URL, index) if status is None else status,
    )
    return sign_credential(credential, ISSUER, created=NOW - 2 * HOUR)


def _verify(badge: dict[str, Any], fetch: Any = None, bns: Any = None, **more: Any) -> Report:
    extra = {} if fetch is None else {STATUS_LIST_FETCHER: fetch}
    return verify_credential(badge, now=NOW, resolvers=Resolvers(bns=bns, extra=extra, **more))


def _unreachable(url: str) -> dict[str, Any] | None:
    raise Unreachable(f"{url} did not answer")


def test_verifier_reads_the_bit() -> None:
    signed = _list(_revoked(11))
    revoked = _verify(_badge(11), lambda url: signed if url == URL else None)
    assert revoked.verdict == "invalid"
    assert (revoked.failed and revoked.failed.name, revoked.check("status").code) == (
        "status",
        "status_revocation",
    )
    clear = _verify(_badge(12), lambda url: signed)
    assert clear.verdict == "valid" and clear.check("status").code == "ok"


def test_verifier_fails_on_a_forged_list() -> None:
    forged = copy.deepcopy(_list(_revoked(11)))
    forged["credentialSubject"]["encodedList"] = encode_bits(empty_bits())
    report = _verify(_badge(11), lambda url: forged)
    assert report.verdict == "invalid"
    assert report.check("status").status == "failed"
    assert report.check("status").code == "status_list_signature_invalid"


def test_offline_status_is_skipped_and_blocking() -> None:
    report = _verify(_badge(11))
    assert (report.check("status").status, report.check("status").code) == (
        "skipped",
        "status_unchecked_offline",
    )
    assert report.verdict == "indeterminate"


def test_unreachable_list_with_bns_answer_passes_as_bns_answered() -> None:
    badge = _badge(11)
    uid = badge["proof"]["proofValue"]
    view = BnsView(uid=uid, issuer_did=ISSUER.did, earner=EARNER.did)
    report = _verify(badge, _unreachable, bns=lambda asked: view)
    assert report.verdict == "valid"
    assert (report.check("status").status, report.check("status").code) == (
        "passed",
        "bns_answered",
    )
    revoked = BnsView(uid=uid, issuer_did=ISSUER.did, earner=EARNER.did, revoked=True)
    report = _verify(badge, _unreachable, bns=lambda asked: revoked)
    assert report.verdict == "invalid" and report.failed and report.failed.name == "revocation"


def test_unreachable_list_without_bns_is_indeterminate() -> None:
    report = _verify(_badge(11), _unreachable)
    assert report.verdict == "indeterminate"
    assert (
        report.check("status").status == "skipped" and report.check("status").code == "unreachable"
    )


def test_a_list_its_server_does_not_have_fails_even_when_the_bns_answers() -> None:
    """A 404 is an answer: the list is gone, which must not pass as "issuer offline"."""
    badge = _badge(11)
    view = BnsView(uid=badge["proof"]["proofValue"], issuer_did=ISSUER.did, earner=EARNER.did)
    for bns in (None, lambda asked: view):
        missing = _verify(badge, lambda url: None, bns=bns)
        assert (missing.verdict, missing.check("status").code) == (
            "invalid",
            "status_list_not_found",
        )


def test_too_many_status_entries_are_refused_before_any_fetch() -> None:
    asked: list[str] = []

    def fetch(url: str) -> Any:
        asked.append(url)
        raise AssertionError("no list may be fetched")

    entries = [status_entry(f"https://lists.example/{n}", n) for n in range(9)]
    report = _verify(_badge(11, entries), fetch)
    assert (report.check("status").status, report.check("status").code) == (
        "failed",
        "status_invalid",
    )
    assert asked == []


# --- other issuers ---------------------------------------------------------------------------


def _peer(*parts: str) -> Any:
    return json.loads(
        shared_path("interop", "peers", "1edtech-inspector", "ob30", *parts).read_text()
    )


def test_1edtech_test_list_verifies_and_sets_bit_23() -> None:
    # peers/PROVENANCE.md: the testlist is signed (eddsa-rdfc-2022), only bit 23 is set.
    testlist = _peer("bit-string-list", "testlist")
    bits = decode_bits(testlist["credentialSubject"]["encodedList"])
    assert [i for i in range(len(bits) * 8) if get_bit(bits, i)] == [23]
    issuer = testlist["issuer"]
    for index, expected in ((23, True), (22, False), (24, False)):
        entry = status_entry(testlist["id"], index)
        assert (
            check_status(
                testlist, entry, credential_issuer=issuer, now=NOW, verify_list_proof=VERIFY
            )
            is expected
        )


@pytest.mark.parametrize(
    "name", ["credential-status-revoked.json", "credential-status-revoked-blank-nodes.json"]
)
def test_1edtech_revoked_credential_is_invalid(name: str) -> None:
    # Expected INVALID (revoked through bit 23). The testlist names itself by another URL
    # than the one the credential points at, which we refuse on its own (docs/verification.md).
    credential = _peer("bit-string-list", name)
    testlist = _peer("bit-string-list", "testlist")
    report = verify_credential(
        credential, now=NOW, resolvers=Resolvers(extra={STATUS_LIST_FETCHER: lambda url: testlist})
    )
    assert report.check("proof").status == "passed", report.to_json()
    assert report.verdict == "invalid"
    assert report.check("status").code == "status_list_url_mismatch"
    # Served under the URL it names itself by, the same list says revoked.
    entry = dict(credential["credentialStatus"], statusListCredential=testlist["id"])
    relocated = credential | {"credentialStatus": entry}
    assert check_status(
        testlist,
        entry,
        credential_issuer=relocated["issuer"]["id"],
        now=NOW,
        verify_list_proof=VERIFY,
    )


def test_a_checked_list_is_not_verified_again_but_still_expires() -> None:
    """A verifier's cache holds CheckedLists: reading one costs no proof check, and it still
    goes stale, and still answers only for its own URL."""
    checked = check_list_credential(
        _list(_revoked(11)), list_url=URL, now=NOW, verify_list_proof=VERIFY
    )

    def never(document: dict[str, Any], proof: dict[str, Any]) -> str:
        raise AssertionError("a checked list is not verified again")

    entry = status_entry(URL, 11)
    assert check_status(
        checked, entry, credential_issuer=ISSUER.did, now=NOW, verify_list_proof=never
    )
    with pytest.raises(StatusListError) as stale:
        check_status(
            checked, entry, credential_issuer=ISSUER.did, now=NOW + HOUR, verify_list_proof=never
        )
    assert stale.value.code == "status_list_stale"
    elsewhere = status_entry("https://issuer.example/status/BBBBBBBBBBBB", 11)
    with pytest.raises(StatusListError) as moved:
        check_status(
            checked, elsewhere, credential_issuer=ISSUER.did, now=NOW, verify_list_proof=never
        )
    assert moved.value.code == "status_list_url_mismatch"
