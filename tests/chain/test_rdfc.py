"""RDFC-1.0 against the W3C rdf-canon test suite, the vc-di-eddsa vector, and poison datasets."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyld import jsonld

from badgechain.chain.errors import CanonicalizationError, InputTooLarge
from badgechain.chain.nquads import BlankNode, Iri, Literal, Quad, parse_nquads, quads_from_pyld
from badgechain.chain.rdfc import (
    MAX_CANON_BLANK_NODES,
    MAX_CANON_QUADS,
    canonicalize,
    canonicalize_dataset,
)
from tests.conftest import SHARED_DIR, shared_path

Loader = Callable[[str, Any], dict[str, Any]]

# Read at collection time to name one test per manifest entry; each test still goes through
# shared_path, which skips when ../shared is absent.
_SUITE = SHARED_DIR / "interop" / "rdf-canon" / "tests"
_MANIFEST = _SUITE / "manifest.jsonld"
_ENTRIES: list[dict[str, Any]] = (
    json.loads(_MANIFEST.read_text())["entries"] if _MANIFEST.is_file() else []
)
_ABSENT = pytest.param({}, id="suite-absent")


def _entries(kind: str) -> list[Any]:
    chosen = [pytest.param(e, id=e["id"].lstrip("#")) for e in _ENTRIES if e["type"] == kind]
    return chosen or [_ABSENT]


def _suite_file(entry: dict[str, Any], key: str) -> Path:
    path = shared_path("interop", "rdf-canon", "tests", entry[key])
    if not path.is_file():
        pytest.fail(f"{entry['id']}: {entry[key]} is missing from the suite")
    return path


def _input(entry: dict[str, Any]) -> list[Quad]:
    if not entry:
        shared_path("interop", "rdf-canon", "tests", "manifest.jsonld")  # skips when absent
        pytest.fail("rdf-canon manifest.jsonld is missing")
    return parse_nquads(_suite_file(entry, "action").read_text(encoding="utf-8"))


def _hash(entry: dict[str, Any]) -> str:
    """The manifest says "SHA384"; our option says "sha384"."""
    return str(entry.get("hashAlgorithm", "sha256")).lower()


def test_the_suite_has_what_its_provenance_lists() -> None:
    shared_path("interop", "rdf-canon", "tests")
    kinds = [entry["type"] for entry in _ENTRIES]
    assert kinds.count("rdfc:RDFC10EvalTest") == 64
    assert kinds.count("rdfc:RDFC10MapTest") == 21
    assert kinds.count("rdfc:RDFC10NegativeEvalTest") == 1


@pytest.mark.parametrize("entry", _entries("rdfc:RDFC10EvalTest"))
def test_eval(entry: dict[str, Any]) -> None:
    quads = _input(entry)
    expected = _suite_file(entry, "result").read_text(encoding="utf-8")
    assert canonicalize(quads, hash_algorithm=_hash(entry)) == expected


@pytest.mark.parametrize("entry", _entries("rdfc:RDFC10MapTest"))
def test_issued_identifiers_map(entry: dict[str, Any]) -> None:
    quads = _input(entry)
    expected = json.loads(_suite_file(entry, "result").read_text(encoding="utf-8"))
    result = canonicalize_dataset(quads, hash_algorithm=_hash(entry))
    assert dict(result.issued_identifiers) == expected
    labels = {
        t.label for q in quads for t in (q.subject, q.object, q.graph) if isinstance(t, BlankNode)
    }
    assert set(result.issued_identifiers) == labels


@pytest.mark.parametrize("entry", _entries("rdfc:RDFC10NegativeEvalTest"))
def test_poison_clique_is_refused_within_a_second(entry: dict[str, Any]) -> None:
    quads = _input(entry)
    started = time.perf_counter()
    with pytest.raises(CanonicalizationError) as caught:
        canonicalize(quads)
    elapsed = time.perf_counter() - started
    assert caught.value.code == "canonicalization_work_limit"
    assert elapsed < 1.0


def test_sha384_orders_blank_nodes_differently_from_sha256() -> None:
    """test075 is test020 hashed with SHA-384: the expected output, and another labelling."""
    entry = next((e for e in _ENTRIES if e["id"] == "#test075c"), None)
    if entry is None:
        shared_path("interop", "rdf-canon", "tests", "manifest.jsonld")
        pytest.fail("test075c is missing from the manifest")
    quads = _input(entry)
    sha384 = canonicalize_dataset(quads, hash_algorithm="sha384")
    sha256 = canonicalize_dataset(quads, hash_algorithm="sha256")
    assert sha384.nquads == _suite_file(entry, "result").read_text(encoding="utf-8")
    assert sha384.issued_identifiers != sha256.issued_identifiers


def test_unknown_hash_algorithm_is_refused() -> None:
    with pytest.raises(CanonicalizationError) as caught:
        canonicalize([], hash_algorithm="md5")
    assert caught.value.code == "canonicalization_hash_unsupported"


# --- invariance ---------------------------------------------------------------------------------

_SHUFFLED = ["#test020c", "#test044c", "#test054c", "#test060c", "#test073c"]


@settings(derandomize=True, max_examples=25, deadline=None)
@given(st.sampled_from(_SHUFFLED), st.randoms(use_true_random=False))
def test_output_ignores_quad_order_labels_and_duplicates(test_id: str, rng: random.Random) -> None:
    entry = next((e for e in _ENTRIES if e["id"] == test_id), None)
    if entry is None:
        shared_path("interop", "rdf-canon", "tests", "manifest.jsonld")
        pytest.fail(f"{test_id} is missing from the manifest")
    quads = _input(entry)
    labels = sorted(
        {t.label for q in quads for t in (q.subject, q.object, q.graph) if isinstance(t, BlankNode)}
    )
    renamed = dict(
        zip(labels, rng.sample([f"n{i}" for i in range(len(labels))], len(labels)), strict=True)
    )

    def rename(term: Any) -> Any:
        return BlankNode(renamed[term.label]) if isinstance(term, BlankNode) else term

    changed = [
        Quad(rename(q.subject), q.predicate, rename(q.object), rename(q.graph)) for q in quads
    ]
    changed += rng.sample(changed, min(3, len(changed)))  # a dataset is a set
    rng.shuffle(changed)
    assert canonicalize(changed) == _suite_file(entry, "result").read_text(encoding="utf-8")


# --- limits -------------------------------------------------------------------------------------


def _chains(length: int) -> list[Quad]:
    """Two identical chains of blank nodes: every interior node shares one first-degree hash."""
    step = Iri("urn:ex:next")
    return [
        Quad(BlankNode(f"{name}{i}"), step, BlankNode(f"{name}{i + 1}"))
        for name in ("a", "z")
        for i in range(length)
    ]


def test_short_identical_chains_canonicalize() -> None:
    first = canonicalize(_chains(12))
    assert first.count("\n") == 24
    assert "_:c14n25" in first and "_:c14n26" not in first
    assert canonicalize(list(reversed(_chains(12)))) == first


def test_deep_recursion_is_a_work_limit_not_a_recursion_error() -> None:
    started = time.perf_counter()
    with pytest.raises(CanonicalizationError) as caught:
        canonicalize(_chains(300))
    assert caught.value.code == "canonicalization_work_limit"
    assert time.perf_counter() - started < 1.0


def test_interchangeable_children_of_twin_parents_are_refused_fast() -> None:
    """10! orders of look-alike neighbours: permutations count as work, not only calls."""
    p = Iri("urn:ex:p")
    quads = [Quad(BlankNode(c), p, BlankNode(f"{c}{i}")) for c in ("c", "d") for i in range(10)]
    started = time.perf_counter()
    with pytest.raises(CanonicalizationError) as caught:
        canonicalize(quads)
    assert caught.value.code == "canonicalization_work_limit"
    assert time.perf_counter() - started < 1.0


def test_factor_zero_refuses_any_n_degree_work() -> None:
    with pytest.raises(CanonicalizationError) as caught:
        canonicalize(_chains(12), max_work_factor=0)
    assert caught.value.code == "canonicalization_work_limit"


def test_too_many_quads_or_blank_nodes_are_refused() -> None:
    p = Iri("urn:ex:p")
    with pytest.raises(InputTooLarge):
        canonicalize(
            [Quad(Iri("urn:ex:s"), p, Literal(str(i))) for i in range(MAX_CANON_QUADS + 1)]
        )
    with pytest.raises(InputTooLarge):
        canonicalize([Quad(BlankNode(f"b{i}"), p, p) for i in range(MAX_CANON_BLANK_NODES + 1)])


def test_hand_built_lone_surrogate_is_refused() -> None:
    quads = [Quad(BlankNode("b"), Iri("urn:ex:p"), Literal("\ud800"))]
    with pytest.raises(CanonicalizationError) as caught:
        canonicalize(quads)
    assert caught.value.code == "rdf_term_invalid"


# --- through pyld -------------------------------------------------------------------------------


def _vector(*parts: str) -> Path:
    return shared_path("interop", "vectors", *parts)


def _pyld_quads(document: dict[str, Any], loader: Loader) -> list[Quad]:
    return quads_from_pyld(jsonld.to_rdf(document, {"documentLoader": loader}))


def test_vc_di_eddsa_vector_canonical_document(shared_loader: Loader) -> None:
    unsigned = json.loads(_vector("vc-di-eddsa", "unsigned.json").read_text())
    expected = _vector("vc-di-eddsa", "eddsa-rdfc-2022", "canonDocDataInt.txt").read_text()
    assert canonicalize(_pyld_quads(unsigned, shared_loader)) == expected


def test_control_characters_match_jsonld_js(shared_loader: Loader) -> None:
    folder = ("generated", "rdfc-escaping")
    document = json.loads(_vector(*folder, "edge-cases.json").read_text())
    expected = _vector(*folder, "edge-cases.expected-rdfc10.jsonld-js.nq").read_text(
        encoding="utf-8"
    )
    wrong = _vector(*folder, "edge-cases.pyld-3.3.0-unpatched.nq").read_text(encoding="utf-8")
    ours = canonicalize(_pyld_quads(document, shared_loader))
    assert ours == expected
    assert ours != wrong


def test_agrees_with_pyld_where_pyld_is_right() -> None:
    """Blank nodes, a named graph, a list and a language string: no control characters."""
    document = {
        "@context": {"ex": "urn:ex:", "list": {"@id": "ex:list", "@container": "@list"}},
        "@graph": [
            {
                "@id": "_:x",
                "ex:knows": {"@id": "_:y"},
                "ex:name": {"@value": "x", "@language": "en"},
            },
            {"@id": "_:y", "ex:knows": {"@id": "_:x"}, "list": ["a", "a", {"@id": "_:x"}]},
            {"@id": "ex:g", "@graph": {"@id": "_:x", "ex:in": {"@id": "ex:g"}}},
        ],
    }
    reference = jsonld.normalize(
        document, {"algorithm": "URDNA2015", "format": "application/n-quads"}
    )
    assert canonicalize(quads_from_pyld(jsonld.to_rdf(document, {}))) == reference


def test_typical_credential_takes_well_under_a_millisecond(shared_loader: Loader) -> None:
    credential = json.loads(_vector("generated", "py-signed-ob.json").read_text())
    credential.pop("proof")
    quads = _pyld_quads(credential, shared_loader)
    assert len(quads) == 26 and any(isinstance(q.subject, BlankNode) for q in quads)
    best = min(_timed(lambda: canonicalize(quads)) for _ in range(30))
    assert best < 0.001


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started
