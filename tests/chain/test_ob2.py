"""Open Badges 2.0 / 1.x / 0.5 verification (chain.ob2) over the peers corpus, and the
ambiguous-carrier refusals of chain.bake.

Every OB 2.0-family file of ../shared/interop/peers is verified with an in-memory
DocumentFetcher that serves what PROVENANCE.md says its source project serves
(tests/peers_hosts.py), and its verdict is compared with the expected one.
"""

from __future__ import annotations

import json
import re
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.chain.ob2 import WARNING_CODES
from badgechain.chain.resolve import Fetched, Resolvers, TrustPolicy, Unreachable
from badgechain.chain.verify import Report, verify_badge
from tests.chain.test_bake import PLAIN_SVG, itxt, make_png
from tests.conftest import SHARED_DIR
from tests.peers_hosts import peer_fetcher, peers_dir, self_hosted

NOW = datetime(2026, 12, 3, tzinfo=UTC)
RECIPIENT = "nobody@example.org"  # the ob20 badges' recipient (PROVENANCE.md)
ASSERTION_URL = "https://example.org/beths-robotics-badge.json"
_SCOPE = ("1edtech-inspector/ob20/", "validator-core/", "badgr-server/", "mozilla-")
# Where BadgeChain knowingly differs from PROVENANCE.md, and what it says instead.
KNOWN = {
    # OB 0.5 has no verification method at all: indeterminate, by policy (issue 10).
    "validator-core/components/0_5_assertion.json": "indeterminate",
    "validator-core/components/0_5_1_assertion.json": "indeterminate",
    "badgr-server/backpack/0_5_basic_instance.json": "indeterminate",
    # Baking vectors whose hosted assertion is not in the corpus (mozilla's tests mock it).
    "mozilla-bakery/baked.svg": "invalid",
    "mozilla-bakery/no-json.svg": "invalid",
    "mozilla-backpack/valid-baked.png": "invalid",
}


def _expectations() -> list[tuple[str, str]]:
    provenance = SHARED_DIR / "interop" / "peers" / "PROVENANCE.md"
    if not provenance.is_file():
        return [("(../shared absent)", "VALID")]
    rows = re.findall(
        r"^\| `([^`]+)` \| [^|]+ \| [^|]+ \| (VALID\+WARNING|VALID|INVALID) \|",
        provenance.read_text(),
        re.M,
    )
    return [(name, expected) for name, expected in rows if name.startswith(_SCOPE)]


def verify_peer(path: Path, **kwargs: object) -> Report:
    resolvers = Resolvers(documents=peer_fetcher(self_hosted(path)))
    return verify_badge(path.read_bytes(), now=NOW, resolvers=resolvers, **kwargs)  # type: ignore[arg-type]


def warnings(report: Report) -> list[str]:
    return [c.code for c in report.checks if c.status == "passed" and c.code in WARNING_CODES]


def failed_code(report: Report) -> str | None:
    return report.failed.code if report.failed else None


@pytest.mark.parametrize(("name", "expected"), _expectations())
def test_peer_file_gets_its_expected_verdict(name: str, expected: str) -> None:
    report = verify_peer(peers_dir() / name)
    if name in KNOWN:
        assert report.verdict == KNOWN[name]
        return
    assert report.verdict == expected.split("+")[0].lower(), report.to_json()
    if expected == "VALID+WARNING":
        assert warnings(report), report.to_json()


def test_agreement_and_no_false_accepts() -> None:
    cases = _expectations()
    peers = peers_dir()
    verdicts = {name: verify_peer(peers / name).verdict for name, _ in cases}
    agree = sum(verdicts[name] == want.split("+")[0].lower() for name, want in cases)
    assert agree == len(cases) - len(KNOWN)
    assert not [name for name, want in cases if want == "INVALID" and verdicts[name] == "valid"]


# --- reports ---------------------------------------------------------------------------------


def test_hosted_report_names_every_check() -> None:
    report = verify_peer(peers_dir() / "1edtech-inspector/ob20/basic-assertion.json")
    codes = {check.name: (check.status, check.code) for check in report.checks}
    assert report.verdict == "valid" and report.format == "ob2/json"
    assert codes["proof"] == ("passed", "ok")
    assert codes["uid"] == ("skipped", "uid_not_applicable")
    assert codes["bns"] == ("skipped", "bns_not_applicable")
    assert codes["revocation"] == ("passed", "no_revocation_list")


@pytest.mark.parametrize("name", ["basic-assertion.json", "simple.jwt", "simple-badge.png"])
def test_offline_is_indeterminate(name: str) -> None:
    data = (peers_dir() / "1edtech-inspector/ob20" / name).read_bytes()
    report = verify_badge(data, now=NOW)
    assert report.verdict == "indeterminate"
    assert any(c.blocking and c.code == "offline" for c in report.checks)


def test_offline_expired_is_still_invalid() -> None:
    data = (peers_dir() / "1edtech-inspector/ob20/basic-assertion-expired.json").read_bytes()
    assert failed_code(verify_badge(data, now=NOW)) == "expired"


def test_unreachable_server_is_indeterminate() -> None:
    def down(url: str) -> Fetched | None:
        raise Unreachable("connection refused")

    data = (peers_dir() / "1edtech-inspector/ob20/simple.jwt").read_bytes()
    report = verify_badge(data, now=NOW, resolvers=Resolvers(documents=down))
    assert report.verdict == "indeterminate"


def test_ob05_says_why_it_is_indeterminate() -> None:
    report = verify_peer(peers_dir() / "validator-core/components/0_5_assertion.json")
    assert report.check("vc_model").code == "ob05_not_supported"
    assert "0.5" in report.check("vc_model").message


# --- recipient ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["simple.jwt", "basic-assertion.json", "simple-badge.png"])
def test_hashed_recipient_is_checked(name: str) -> None:
    path = peers_dir() / "1edtech-inspector/ob20" / name
    good = verify_peer(path, recipient=RECIPIENT)
    assert good.verdict == "valid" and good.check("uid").status == "passed"
    bad = verify_peer(path, recipient="somebody@example.org")
    assert failed_code(bad) == "recipient_mismatch"


def test_plain_recipient_compares_emails_caselessly() -> None:
    path = peers_dir() / "badgr-server/backpack/1_0_basic_instance3.json"
    assert verify_peer(path, recipient="test@example.com").verdict == "valid"
    assert failed_code(verify_peer(path, recipient="other@example.com")) == "recipient_mismatch"


# --- forgeries ---------------------------------------------------------------------------------


def _verify_with(data: bytes, extra: dict[str, bytes]) -> Report:
    return verify_badge(data, now=NOW, resolvers=Resolvers(documents=peer_fetcher(extra)))


def test_tampered_signature_is_invalid() -> None:
    token = (peers_dir() / "1edtech-inspector/ob20/simple.jwt").read_text().strip()
    head, body, signature = token.split(".")
    forged = f"{head}.{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    assert failed_code(_verify_with(forged.encode(), {})) == "jws_signature_invalid"


def test_key_owned_by_someone_else_is_refused() -> None:
    assets = peers_dir() / "1edtech-inspector/ob20/assets"
    key = json.loads((assets / "key1.json").read_text())
    key["owner"] = "https://evil.example/issuer.json"
    data = (peers_dir() / "1edtech-inspector/ob20/simple.jwt").read_bytes()
    report = _verify_with(data, {"http://example.org/key1.json": json.dumps(key).encode()})
    assert failed_code(report) == "issuer_key_mismatch"


def test_hosted_copy_that_differs_is_invalid() -> None:
    path = peers_dir() / "1edtech-inspector/ob20/basic-assertion.json"
    hosted = json.loads(path.read_text())
    hosted["issuedOn"] = "2017-01-01T00:00:00Z"
    report = _verify_with(path.read_bytes(), {ASSERTION_URL: json.dumps(hosted).encode()})
    assert failed_code(report) == "hosted_mismatch"


def test_forged_endorsement_makes_the_badge_invalid() -> None:
    path = peers_dir() / "1edtech-inspector/ob20/assertion-with-endorsements.json"
    assets = peers_dir() / "1edtech-inspector/ob20/assets"
    endorsement = json.loads((assets / "endorsement-2.json").read_text())
    endorsement["issuedOn"] = "2100-01-01T00:00:00Z"
    forged = json.dumps(endorsement).encode()
    extra = self_hosted(path) | {
        "https://example.org/endorsement-2.json": forged,
        "http://example.org/endorsement-2.json": forged,
    }
    assert failed_code(_verify_with(path.read_bytes(), extra)) == "endorsement_invalid"


def test_revoked_hosted_assertion_is_invalid() -> None:
    path = peers_dir() / "1edtech-inspector/ob20/basic-assertion.json"
    hosted = json.loads(path.read_text()) | {"revoked": True, "revocationReason": "cheated"}
    data = json.dumps(hosted).encode()
    assert failed_code(_verify_with(data, {ASSERTION_URL: data})) == "revoked"
    # The copy a holder kept does not say so; the one its issuer hosts does.
    report = _verify_with(path.read_bytes(), {ASSERTION_URL: data})
    assert failed_code(report) == "revoked" and "cheated" in report.check("proof").message


@given(st.binary(max_size=300))
@settings(max_examples=150, deadline=None)
def test_any_baked_ob2_payload_gets_a_report(payload: bytes) -> None:
    image = make_png([itxt(b"openbadges", payload)])
    report = verify_badge(image, now=NOW, resolvers=Resolvers(documents=peer_fetcher()))
    assert not [c for c in report.checks if c.code == "internal_error"]


# --- carriers ----------------------------------------------------------------------------------


def _hosted_assertion() -> bytes:
    return (peers_dir() / "1edtech-inspector/ob20/basic-assertion.json").read_bytes()


def test_legacy_text_chunk_url_is_fetched_and_verified() -> None:
    image = make_png([(b"tEXt", b"openbadges\0" + ASSERTION_URL.encode())])
    report = _verify_with(image, {ASSERTION_URL: _hosted_assertion()})
    assert (report.format, report.verdict) == ("ob2/png", "valid")


def test_compressed_legacy_chunk_is_read() -> None:
    chunk = (b"zTXt", b"openbadges\0\0" + zlib.compress(ASSERTION_URL.encode()))
    report = _verify_with(make_png([chunk]), {ASSERTION_URL: _hosted_assertion()})
    assert report.verdict == "valid"


@pytest.mark.parametrize(
    "chunks",
    [
        [itxt(b"openbadges", b"https://example.org/a"), (b"tEXt", b"openbadges\0https://x.org/b")],
        [itxt(b"openbadgecredential", b"{}"), itxt(b"openbadges", b"https://example.org/a")],
        [
            (b"zTXt", b"openbadges\0\0" + zlib.compress(b"https://a.org/")),
            itxt(b"openbadges", b"{}"),
        ],
    ],
)
def test_two_credential_chunks_are_refused(chunks: list[tuple[bytes, bytes]]) -> None:
    report = verify_badge(make_png(chunks), now=NOW)
    assert report.verdict == "invalid" and failed_code(report) == "carrier_ambiguous"


def _svg(inner: bytes) -> bytes:
    head = PLAIN_SVG.split(b"<rect/>")[0].replace(
        b"<svg ",
        b'<svg xmlns:openbadges="http://openbadges.org" '
        b'xmlns:ob3="https://purl.imsglobal.org/ob/v3p0" ',
    )
    return head + inner + b"</svg>"


@pytest.mark.parametrize(
    "inner",
    [
        b'<openbadges:assertion verify="https://example.org/a"/>'
        b'<openbadges:assertion verify="https://example.org/b"/>',
        b'<ob3:credential><![CDATA[{"a": 1}]]></ob3:credential>'
        b'<openbadges:assertion verify="https://example.org/a"/>',
        b'<openbadges:assertion verify="https://example.org/a">'
        b'<![CDATA[{"id": "https://example.org/other", "verification": {"type": "hosted"}}]]>'
        b"</openbadges:assertion>",
        b'<ob3:credential verify="a.b.c"><![CDATA[{"a": 1}]]></ob3:credential>',
    ],
)
def test_ambiguous_svg_carriers_are_refused(inner: bytes) -> None:
    report = verify_badge(_svg(inner), now=NOW)
    assert failed_code(report) == "carrier_ambiguous"


def test_svg_verify_attribute_matching_its_content_is_read() -> None:
    content = _hosted_assertion().decode()
    inner = (
        f'<openbadges:assertion verify="{ASSERTION_URL}"><![CDATA[{content}]]>'
        "</openbadges:assertion>"
    ).encode()
    report = _verify_with(_svg(inner), {ASSERTION_URL: _hosted_assertion()})
    assert (report.format, report.verdict) == ("ob2/svg", "valid")


# --- hostile input -------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_FIELDS = st.sampled_from(
    [
        "id",
        "type",
        "recipient",
        "badge",
        "issuer",
        "verification",
        "verify",
        "issuedOn",
        "expires",
        "endorsement",
        "image",
        "revocationList",
        "publicKey",
        "uid",
        "x:ext",
    ]
)


@given(st.dictionaries(_FIELDS, _JSON | st.just(ASSERTION_URL), max_size=8))
@settings(max_examples=150, deadline=None)
def test_any_ob2_shaped_document_gets_a_report(fields: dict[str, object]) -> None:
    document = {"@context": "https://w3id.org/openbadges/v2", **fields}
    echo = json.dumps(document).encode()

    def fetch(url: str) -> Fetched | None:  # every URL answers with the document itself
        return Fetched(url, url, "application/json", echo)

    report = verify_badge(echo, now=NOW, resolvers=Resolvers(documents=fetch))
    assert report.verdict in ("valid", "invalid", "indeterminate")
    assert not [c for c in report.checks if c.code == "internal_error"]


def test_hosted_assertion_redirected_off_the_issuers_host_is_refused() -> None:
    path = peers_dir() / "1edtech-inspector/ob20/basic-assertion.json"
    inner = peer_fetcher(self_hosted(path))

    def redirecting(url: str) -> Fetched | None:
        got = inner(url)
        if url == ASSERTION_URL and got is not None:
            return Fetched(url, "https://elsewhere.example/a.json", got.content_type, got.body)
        return got

    report = verify_badge(path.read_bytes(), now=NOW, resolvers=Resolvers(documents=redirecting))
    assert failed_code(report) == "hosted_out_of_scope"


def test_trust_policy_names_the_issuer_by_the_url_it_was_fetched_at() -> None:
    path = peers_dir() / "1edtech-inspector/ob20/simple.jwt"
    issuer = "https://example.org/organization.json"
    for policy, verdict in (
        (TrustPolicy(deny=frozenset({issuer})), "invalid"),
        (TrustPolicy(allow=frozenset({issuer})), "valid"),
    ):
        resolvers = Resolvers(documents=peer_fetcher(), trust=policy)
        assert verify_badge(path.read_bytes(), now=NOW, resolvers=resolvers).verdict == verdict


def test_an_endorsement_given_alone_is_verified_as_one() -> None:
    path = peers_dir() / "1edtech-inspector/ob20/assets/endorsement-1.json"
    report = _verify_with(path.read_bytes(), {})
    assert report.verdict == "valid" and report.check("proof").status == "passed"
    future = json.loads(path.read_text()) | {"issuedOn": "2100-01-01T00:00:00Z"}
    data = json.dumps(future).encode()
    assert failed_code(_verify_with(data, {future["id"]: data})) == "issued_in_future"
