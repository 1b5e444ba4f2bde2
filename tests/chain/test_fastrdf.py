"""The compiled JSON-LD path (chain.fastrdf) against pyld: the same canonical N-Quads byte for
byte, or the same refusal, on every credential we have and on generated ones."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from badgechain.chain import fastrdf
from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.contexts import document_loader
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.jsonld import _SENTINEL_BASE, _pyld_quads, to_quads
from badgechain.chain.keys import KeyPair
from badgechain.chain.proof import proof_list, sign_credential
from badgechain.chain.rdfc import canonicalize
from tests.chain.conftest import Loader
from tests.conftest import shared_path

ISSUED = datetime(2026, 1, 1, tzinfo=UTC)
ISSUER = KeyPair.from_seed(b"fastrdf issuer".ljust(32, b"\0"))
EARNER = KeyPair.from_seed(b"fastrdf earner".ljust(32, b"\0"))
# Every JSON file under these folders of ../shared/interop is read.
SHARED_FOLDERS = ("examples", "vectors", "peers", "contexts", "schema")
MAX_FILE_BYTES = 2 * 1024 * 1024


def _outcome(quads_of: Any, document: Any, safe: bool) -> str:
    """Canonical N-Quads, or the refusal's code."""
    try:
        return canonicalize(quads_of(document, safe))
    except BadgeChainError as exc:
        return f"refused: {exc.code}"
    except RecursionError:
        return "refused: recursion"


def _dispatched(document: Any, safe: bool) -> Any:
    return to_quads(copy.deepcopy(document), safe=safe)


def _pyld(document: Any, safe: bool) -> Any:
    return _pyld_quads(copy.deepcopy(document), safe=safe, loader=document_loader)


def _compiled(document: dict[str, Any], safe: bool = True) -> bool:
    """Whether the compiled path answers `document` itself (no fallback)."""
    try:
        fastrdf.to_quads(copy.deepcopy(document), safe=safe, base=_SENTINEL_BASE if safe else None)
    except fastrdf.Fallback:
        return False
    return True


def assert_same(document: dict[str, Any]) -> None:
    for safe in (True, False):
        assert _outcome(_dispatched, document, safe) == _outcome(_pyld, document, safe), (
            json.dumps(document)[:2000],
            safe,
        )


def _variants(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The document, its unsecured form, and each proof's configuration as proofs sign it."""
    yield document
    if "proof" not in document:
        return
    yield {key: value for key, value in document.items() if key != "proof"}
    try:
        proofs = proof_list(document)
    except BadgeChainError:
        return
    for proof in proofs:
        config = {key: value for key, value in proof.items() if key != "proofValue"}
        config["@context"] = document.get("@context")
        yield config


def _documents(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object with an @context, however deep it sits."""
    if isinstance(node, dict):
        if "@context" in node:
            yield node
        for value in node.values():
            yield from _documents(value)
    elif isinstance(node, list):
        for value in node:
            yield from _documents(value)


def _shared_documents() -> list[tuple[str, dict[str, Any]]]:
    root = shared_path("interop")
    found: list[tuple[str, dict[str, Any]]] = []
    for folder in SHARED_FOLDERS:
        for path in sorted((root / folder).rglob("*.json*")):
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
                continue
            name = str(path.relative_to(root))
            found.extend((name, document) for document in _documents(data))
    return found


def _badge(number: int = 0) -> dict[str, Any]:
    achievement = build_achievement(
        ISSUER.did,
        achievement_id=f"urn:uuid:00000000-0000-4000-8000-{number:012d}",
        name=f"Badge {number}",
        description="A badge",
        criteria="Exists",
    )
    credential = build_credential(
        issuer_did=ISSUER.did,
        subject_id=EARNER.did,
        achievement=achievement,
        valid_from=ISSUED,
        credential_id=f"urn:uuid:10000000-0000-4000-8000-{number:012d}",
    )
    return sign_credential(credential, ISSUER, created=ISSUED)


def _result_description(allowed: Any) -> dict[str, Any]:
    return {
        "id": "urn:rd:1",
        "type": ["ResultDescription"],
        "name": "Grade",
        "resultType": "LetterGrade",
        "allowedValue": allowed,
    }


# --- the test data ------------------------------------------------------------------------------


def test_our_badges_take_the_compiled_path_and_agree() -> None:
    badge = _badge()
    for document in _variants(badge):
        assert _compiled(document)
        assert_same(document)


def test_every_credential_in_the_shared_interop_data_agrees() -> None:
    documents = _shared_documents()
    assert len(documents) > 50
    compiled = 0
    for name, document in documents:
        for variant in _variants(document):
            compiled += _compiled(variant)
            try:
                assert_same(variant)
            except AssertionError as exc:
                raise AssertionError(f"{name}: {exc}") from None
    # The VC 2.0 / OB 3.0 credentials and configurations must not all fall back to pyld.
    assert compiled >= 20


def test_the_w3c_vectors_agree_under_their_own_loader(shared_loader: Loader) -> None:
    """vc-di-eddsa (and the other vectors) use the W3C examples context, which is not pinned:
    compiled from the shared contexts, both paths still agree, and the compiled one answers."""
    folder = shared_path("interop", "vectors")
    compiled = 0
    for path in sorted(folder.rglob("*.json")):
        for document in _documents(json.loads(path.read_text())):
            for variant in _variants(document):
                for safe in (True, False):
                    expected = _outcome(
                        lambda d, s: _pyld_quads(d, safe=s, loader=shared_loader), variant, safe
                    )
                    try:
                        got = _outcome(
                            lambda d, s: fastrdf.to_quads(
                                d, safe=s, base=_SENTINEL_BASE if s else None, loader=shared_loader
                            ),
                            copy.deepcopy(variant),
                            safe,
                        )
                    except fastrdf.Fallback:
                        continue
                    compiled += 1
                    assert got == expected, (str(path), safe)
    assert compiled >= 10


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("credentialSubject", {"creditsEarned": 42.0}),  # interop NOTES 13
        ("credentialSubject", {"creditsEarned": 2.5}),
        ("achievement", {"creditsAvailable": 1.0}),
        ("credentialSubject", {"creditsEarned": 1e21}),
        ("credentialSubject", {"creditsEarned": 10**21}),
        ("credentialSubject", {"creditsEarned": 10**400}),  # pyld overflows: refused, no crash
        ("achievement", {"name": "tab\t nul\x00 del\x7f bell\x07 \u2028 é"}),
        ("achievement", {"name": {"@value": "Nom", "@language": "FR-ca"}}),
        ("achievement", {"name": {"@value": "5", "@type": "http://www.w3.org/2001/XMLSchema#int"}}),
        ("credentialSubject", {"unknownTerm": "x"}),  # safe mode: undefined term
        ("credentialSubject", {"id": "relative/path"}),  # safe mode: relative IRI
        ("credentialSubject", {"id": "_:subject"}),
        ("credentialSubject", {"id": "https://relative-iri.invalid/x"}),
        ("credentialSubject", {"id": "urn:has space"}),
        ("top", {"credentialSchema": {"id": "urn:s", "type": "1EdTechJsonSchemaValidator2019"}}),
        ("top", {"evidence": [{"id": "urn:e", "type": ["Evidence"], "narrative": "n"}]}),
        ("achievement", {"tag": ["a", "b", "a"]}),
        ("achievement", {"alignment": []}),
        ("achievement", {"@context": {"x": "https://example.org/x"}, "x": "y"}),
        ("achievement", {"resultDescription": [_result_description(["A", "B", "A", None])]}),
        ("achievement", {"resultDescription": [_result_description([])]}),
        ("achievement", {"resultDescription": [_result_description("A")]}),
        ("achievement", {"resultDescription": [_result_description([["A"], "B"])]}),
        ("achievement", {"resultDescription": [_result_description([{"id": "urn:v"}, 2.5])]}),
        ("top", {"proof": {"type": "DataIntegrityProof", "proofPurpose": "urn:purpose:x"}}),
        ("top", {"proof": {"type": "DataIntegrityProof", "proofPurpose": "somePurpose"}}),
        ("top", {"proof": "urn:proof:1"}),
    ],
)
def test_edge_cases_agree(where: str, value: dict[str, Any]) -> None:
    badge = _badge()
    del badge["proof"]
    _place(badge, where, value)
    assert_same(badge)


def test_a_list_container_takes_the_compiled_path() -> None:
    badge = _badge()
    del badge["proof"]
    _place(badge, "achievement", {"resultDescription": [_result_description(["A", "B"])]})
    assert _compiled(badge)
    assert_same(badge)


def test_a_presentation_agrees() -> None:
    badge = _badge()
    presentation = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": EARNER.did,
        "verifiableCredential": [badge],
    }
    assert_same(presentation)
    bare = {key: value for key, value in badge.items() if key != "@context"}
    assert_same(presentation | {"verifiableCredential": [bare]})


def test_a_json_literal_agrees() -> None:
    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": "urn:x:1",
        "type": ["VerifiableCredential"],
        "credentialSchema": {
            "id": "urn:schema",
            "type": "JsonSchema",
            "jsonSchema": {"b": [1, 2.5, True, None, "\u00e9"], "a": {"z": 1, "y": "x"}},
        },
    }
    assert _compiled(document)
    assert_same(document)


# --- generated credentials ----------------------------------------------------------------------

_TERMS = [
    "name",
    "description",
    "narrative",
    "id",
    "type",
    "image",
    "evidence",
    "alignment",
    "creditsEarned",
    "creditsAvailable",
    "tag",
    "url",
    "result",
    "resultDescription",
    "achievementType",
    "validFrom",
    "jsonSchema",
    "unknownTerm",
    "schema:thing",
    "https://example.org/p",
    "_:bnodeProperty",
    "@language",
    "@value",
    "@id",
    "@type",
    "@foo",
]
_TYPES = ["Achievement", "Evidence", "Image", "Alignment", "Result", "FooType", "urn:type:x"]
_IRIS = [
    "https://example.org/a",
    "urn:uuid:12345678-0000-4000-8000-000000000000",
    "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
    "_:b1",
    "relative/x",
    "../up",
    "urn:with space",
    "",
]
_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_scalars = st.one_of(
    _text,
    st.sampled_from(_IRIS),
    st.integers(min_value=-(10**22), max_value=10**22),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([42.0, 2.5, 1.0, 1e21, -0.0, 1e-7]),
    st.booleans(),
    st.none(),
)
_value_objects = st.one_of(
    st.fixed_dictionaries({"@value": _scalars, "@language": st.sampled_from(["en", "EN-gb", "x"])}),
    st.fixed_dictionaries(
        {
            "@value": _scalars,
            "@type": st.sampled_from(
                ["http://www.w3.org/2001/XMLSchema#double", "xsd:date", "urn:dt", "@json"]
            ),
        }
    ),
)


def _objects(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    entries = st.dictionaries(st.sampled_from(_TERMS), children, max_size=4)
    extras = st.fixed_dictionaries(
        {},
        optional={
            "id": st.sampled_from(_IRIS),
            "type": st.one_of(
                st.sampled_from(_TYPES), st.lists(st.sampled_from(_TYPES), max_size=3)
            ),
        },
    )
    return st.builds(lambda a, b: a | b, entries, extras)


_values = st.recursive(
    st.one_of(_scalars, _value_objects),
    lambda children: st.one_of(st.lists(children, max_size=3), _objects(children)),
    max_leaves=12,
)


def _place(badge: dict[str, Any], where: str, extra: dict[str, Any]) -> None:
    target = {
        "top": badge,
        "credentialSubject": badge["credentialSubject"],
        "achievement": badge["credentialSubject"]["achievement"],
    }[where]
    target.update(extra)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.sampled_from(["top", "credentialSubject", "achievement"]),
    extra=st.dictionaries(st.sampled_from(_TERMS), _values, max_size=3),
)
def test_generated_credentials_agree(where: str, extra: dict[str, Any]) -> None:
    badge = _badge()
    del badge["proof"]
    _place(badge, where, extra)
    assert_same(badge)


# Mostly well-formed extras, so most examples exercise the compiled path itself.
_GOOD_TERMS = ["name", "description", "id", "type", "image", "narrative", "tag", "url", "evidence"]
_GOOD_TYPES = ["Achievement", "Evidence", "Image", "Alignment", "Result", "Profile", "urn:type:x"]
_good_scalars = st.one_of(
    _text,
    st.sampled_from(_IRIS[:4]),
    st.integers(min_value=-(10**22), max_value=10**22),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)


def _good_objects(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    entries = st.dictionaries(st.sampled_from(_GOOD_TERMS[:2]), children, max_size=2)
    extras = st.fixed_dictionaries(
        {},
        optional={
            "id": st.sampled_from(_IRIS[:4]),
            "type": st.lists(st.sampled_from(_GOOD_TYPES), min_size=1, max_size=2),
        },
    )
    return st.builds(lambda a, b: a | b, entries, extras)


_good_values = st.recursive(
    st.one_of(
        _good_scalars,
        st.fixed_dictionaries({"@value": _text, "@language": st.sampled_from(["en", "DE-at"])}),
    ),
    lambda children: st.one_of(st.lists(children, max_size=3), _good_objects(children)),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.sampled_from(["top", "credentialSubject", "achievement"]),
    extra=st.dictionaries(st.sampled_from(_GOOD_TERMS[:2]), _good_values, max_size=2),
)
def test_generated_well_formed_credentials_agree(where: str, extra: dict[str, Any]) -> None:
    badge = _badge()
    del badge["proof"]
    _place(badge, where, extra)
    assert_same(badge)


def test_the_compiled_path_holds_no_state_between_documents() -> None:
    """A refused document leaves the next one's answer unchanged."""
    badge = _badge(1)
    before = _outcome(_dispatched, badge, True)
    broken = copy.deepcopy(badge)
    broken["credentialSubject"]["unknownTerm"] = "x"
    assert _outcome(_dispatched, broken, True) == "refused: jsonld_undefined_term"
    assert _outcome(_dispatched, badge, True) == before


def test_file_reader_skips_without_shared(tmp_path: Path) -> None:
    assert list(_documents({"a": [{"@context": "x"}]})) == [{"@context": "x"}]


def test_the_cached_proof_configuration_hash_is_the_same_and_refusals_are_not_kept() -> None:
    from badgechain.chain.proof import signing_input

    badge = _badge(2)
    first = signing_input(badge, badge["proof"])
    assert signing_input(copy.deepcopy(badge), dict(badge["proof"])) == first
    bad_proof = dict(badge["proof"], unknownOption="x")
    for _ in range(2):
        with pytest.raises(BadgeChainError) as refused:
            signing_input(badge, bad_proof)
        assert refused.value.code == "jsonld_undefined_term"


def test_threads_compile_their_own_contexts_and_agree() -> None:
    """Fresh threads build their compiled contexts at the same time; every answer is pyld's."""
    from concurrent.futures import ThreadPoolExecutor

    documents = [_badge(n) for n in range(4)]
    expected = [_outcome(_pyld, document, True) for document in documents]

    def run(index: int) -> str:
        return _outcome(_dispatched, documents[index % len(documents)], True)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(run, range(64)))
    assert answers == [expected[index % len(documents)] for index in range(64)]
