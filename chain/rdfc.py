"""RDF Dataset Canonicalization (W3C RDFC-1.0, formerly URDNA2015) under a work limit, so a
poison dataset (RDFC-1.0 "dataset poisoning") fails fast instead of running for hours.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from .errors import CanonicalizationError, InputTooLarge
from .nquads import BlankNode, Iri, Literal, Quad, serialize_term

__all__ = [
    "DEFAULT_MAX_WORK_FACTOR",
    "HASH_ALGORITHMS",
    "MAX_CANON_BLANK_NODES",
    "MAX_CANON_QUADS",
    "MAX_NDEGREE_DEPTH",
    "MAX_WORK_UNITS",
    "WORK_UNITS_PER_STEP",
    "CanonicalDataset",
    "canonicalize",
    "canonicalize_dataset",
]

# Work limit (cf. rdf-canonize's maxWorkFactor): the N-degree step may spend
# WORK_UNITS_PER_STEP * n ** max_work_factor units, one per Hash N-Degree Quads call and one per
# permutation tried, n being the number of blank nodes that share a first-degree hash. Factor 3
# is the least that passes the W3C suite (its "high" tests 044-046 spend 3348 units on n = 12);
# the 10-node clique of test 074 is refused after 4000 units, in milliseconds. MAX_WORK_UNITS
# caps every budget (about a second of work), so a large n cannot buy an hour of it.
DEFAULT_MAX_WORK_FACTOR: Final = 3
WORK_UNITS_PER_STEP: Final = 4
MAX_WORK_UNITS: Final = 300_000
MAX_NDEGREE_DEPTH: Final = 128  # nested Hash N-Degree Quads calls; Python's stack is finite
MAX_CANON_QUADS: Final = 50_000
MAX_CANON_BLANK_NODES: Final = 10_000


class _Digest(Protocol):
    def hexdigest(self) -> str: ...


_Hasher = Callable[[bytes], _Digest]

HASH_ALGORITHMS: Final[Mapping[str, _Hasher]] = {
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
}

_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_POSITIONS: Final = ("s", "p", "o", "g")  # RDFC-1.0 §4.8 step 3.1: the related node's position


@dataclass(frozen=True, slots=True)
class CanonicalDataset:
    """The canonical N-Quads document and the issued identifiers map (RDFC-1.0 §4.4 step 7)."""

    nquads: str
    issued_identifiers: Mapping[str, str]  # input blank node label -> "c14nN" (no "_:")


def canonicalize(
    quads: Sequence[Quad],
    *,
    max_work_factor: int = DEFAULT_MAX_WORK_FACTOR,
    hash_algorithm: str = "sha256",
) -> str:
    """The serialized canonical form (RDFC-1.0 §5): sorted canonical N-Quads, `_:c14nN` labels."""
    return canonicalize_dataset(
        quads, max_work_factor=max_work_factor, hash_algorithm=hash_algorithm
    ).nquads


def canonicalize_dataset(
    quads: Sequence[Quad],
    *,
    max_work_factor: int = DEFAULT_MAX_WORK_FACTOR,
    hash_algorithm: str = "sha256",
) -> CanonicalDataset:
    """RDFC-1.0 §4.4, returning the issued identifiers map along with the document.

    Past the work limit (see WORK_UNITS_PER_STEP) or MAX_NDEGREE_DEPTH it raises
    CanonicalizationError with code `canonicalization_work_limit`.
    """
    hasher = HASH_ALGORITHMS.get(hash_algorithm.lower().replace("-", ""))
    if hasher is None:
        raise CanonicalizationError(
            f"hash algorithm {hash_algorithm!r:.40} is not supported",
            code="canonicalization_hash_unsupported",
        )
    state = _State(quads, hasher, max_work_factor)
    try:
        state.issue_identifiers()
    except RecursionError as exc:  # only when the caller already used most of the stack
        raise _work_limit("the N-degree recursion ran out of stack") from exc
    except UnicodeEncodeError as exc:
        raise _not_unicode() from exc
    nquads = state.serialize()
    # Our parsers never build a lone surrogate; quads built by hand might, and the caller
    # could then neither hash nor sign the text.
    if _SURROGATE.search(nquads):
        raise _not_unicode()
    return CanonicalDataset(nquads, dict(state.canonical))


# A quad as the algorithm sees it: its four serialized terms (graph "" for the default graph;
# a blank node's slot is filled in per use) and the (position, label) of each blank node.
_Template = tuple[tuple[str, str, str, str], tuple[tuple[int, str], ...]]


def _template(quad: Quad) -> _Template:
    blanks: list[tuple[int, str]] = []
    subject = _slot(quad.subject, 0, blanks)
    obj = _slot(quad.object, 2, blanks)
    graph = "" if quad.graph is None else _slot(quad.graph, 3, blanks)
    return (subject, f"<{quad.predicate.value}>", obj, graph), tuple(blanks)


def _slot(term: Iri | BlankNode | Literal, position: int, blanks: list[tuple[int, str]]) -> str:
    if isinstance(term, BlankNode):
        blanks.append((position, term.label))
        return ""
    return serialize_term(term)


def _line(terms: Sequence[str]) -> str:
    subject, predicate, obj, graph = terms
    if graph:
        return f"{subject} {predicate} {obj} {graph} .\n"
    return f"{subject} {predicate} {obj} .\n"


class _State:
    """The canonicalization state of RDFC-1.0 §4.2, plus the precomputed quad templates."""

    def __init__(self, quads: Sequence[Quad], hasher: _Hasher, factor: int) -> None:
        if len(quads) > MAX_CANON_QUADS:
            raise InputTooLarge(f"more than {MAX_CANON_QUADS} quads to canonicalize")
        # A dataset is a set (RDF 1.1 Concepts §4): a repeated quad is one quad.
        self.templates = list(dict.fromkeys(map(_template, quads)))
        self.hasher = hasher
        self.factor = factor
        self.canonical: dict[str, str] = {}  # the canonical issuer, in issuance order
        self.first_degree: dict[str, str] = {}
        self.blank_quads: dict[str, list[int]] = {}  # RDFC-1.0 §4.4 step 2
        for index, (_, blanks) in enumerate(self.templates):
            for _, label in blanks:
                indexes = self.blank_quads.setdefault(label, [])
                if not indexes or indexes[-1] != index:
                    indexes.append(index)
        if len(self.blank_quads) > MAX_CANON_BLANK_NODES:
            raise InputTooLarge(f"more than {MAX_CANON_BLANK_NODES} blank nodes to canonicalize")
        self.work = 0
        self.budget = 0

    def digest(self, text: str) -> str:
        return self.hasher(text.encode("utf-8")).hexdigest()

    def issue_identifiers(self) -> None:
        """RDFC-1.0 §4.4 steps 3-5: unique first-degree hashes first, then the N-degree step."""
        by_hash: dict[str, list[str]] = {}
        for label in self.blank_quads:
            by_hash.setdefault(self.hash_first_degree(label), []).append(label)
        shared = []
        for digest in sorted(by_hash):
            labels = by_hash[digest]
            if len(labels) == 1:
                self.issue(labels[0])
            else:
                shared.append(labels)
        if shared:
            steps = sum(map(len, shared)) ** max(self.factor, 0)
            self.budget = min(WORK_UNITS_PER_STEP * steps, MAX_WORK_UNITS)
            for labels in shared:
                self.issue_shared(labels)

    def issue(self, label: str) -> None:
        if label not in self.canonical:
            self.canonical[label] = f"c14n{len(self.canonical)}"

    def issue_shared(self, labels: list[str]) -> None:
        """RDFC-1.0 §4.4 step 5: order nodes sharing a first-degree hash by N-degree hashes."""
        results = []
        for label in labels:
            if label not in self.canonical:
                results.append(self.hash_n_degree(label, {label: "b0"}, 0))
        results.sort(key=lambda result: result[0])
        for _, issuer in results:
            for related in issuer:
                self.issue(related)

    def hash_first_degree(self, label: str) -> str:
        """RDFC-1.0 §4.6: the node itself is `_:a`, every other blank node `_:z`."""
        cached = self.first_degree.get(label)
        if cached is not None:
            return cached
        lines = []
        for index in self.blank_quads[label]:
            text, blanks = self.templates[index]
            terms = list(text)
            for position, other in blanks:
                terms[position] = "_:a" if other == label else "_:z"
            lines.append(_line(terms))
        lines.sort()
        digest = self.digest("".join(lines))
        self.first_degree[label] = digest
        return digest

    def hash_related(
        self, related: str, predicate: str, position: int, issuer: dict[str, str]
    ) -> str:
        """RDFC-1.0 §4.7: position, predicate (unless in the graph position), and identity."""
        identifier = self.canonical.get(related) or issuer.get(related)
        name = f"_:{identifier}" if identifier else self.hash_first_degree(related)
        if position == 3:
            return self.digest(f"g{name}")
        return self.digest(f"{_POSITIONS[position]}{predicate}{name}")

    def spend(self, depth: int) -> None:
        """One unit of N-degree work; past the budget or the depth bound the input is refused."""
        self.work += 1
        if self.work > self.budget:
            raise _work_limit(f"over {self.budget} units of work")
        if depth > MAX_NDEGREE_DEPTH:
            raise _work_limit(f"nested over {MAX_NDEGREE_DEPTH} deep")

    def hash_n_degree(
        self, label: str, issuer: dict[str, str], depth: int
    ) -> tuple[str, dict[str, str]]:
        """RDFC-1.0 §4.8: hash a node with the paths to the nodes it shares a quad with."""
        self.spend(depth)
        groups: dict[str, list[str]] = {}
        for index in self.blank_quads[label]:
            text, blanks = self.templates[index]
            for position, related in blanks:
                if related != label:
                    digest = self.hash_related(related, text[1], position, issuer)
                    groups.setdefault(digest, []).append(related)
        parts: list[str] = []
        for digest in sorted(groups):
            path, issuer = self.choose_path(groups[digest], issuer, depth)
            parts += (digest, path)
        return self.digest("".join(parts)), issuer

    def choose_path(
        self, related: list[str], issuer: dict[str, str], depth: int
    ) -> tuple[str, dict[str, str]]:
        """RDFC-1.0 §4.8 step 5.4: the least path over every order of the related nodes."""
        chosen_path, chosen_issuer = "", issuer
        for permutation in itertools.permutations(related):
            self.spend(depth)
            found = self.permutation_path(permutation, dict(issuer), chosen_path, depth)
            if found is not None and (not chosen_path or found[0] < chosen_path):
                chosen_path, chosen_issuer = found
        return chosen_path, chosen_issuer

    def permutation_path(
        self, permutation: Sequence[str], issuer: dict[str, str], chosen: str, depth: int
    ) -> tuple[str, dict[str, str]] | None:
        """One permutation's path (§4.8 steps 5.4.4-5.4.5), or None once it cannot win."""
        path, recursion = "", []
        for node in permutation:
            identifier = self.canonical.get(node)
            if identifier is None:
                if node not in issuer:
                    recursion.append(node)
                    issuer[node] = f"b{len(issuer)}"
                identifier = issuer[node]
            path += f"_:{identifier}"
            if _loses(path, chosen):
                return None
        for node in recursion:
            digest, issuer = self.hash_n_degree(node, issuer, depth + 1)
            path += f"_:{issuer[node]}<{digest}>"
            if _loses(path, chosen):
                return None
        return path, issuer

    def serialize(self) -> str:
        """RDFC-1.0 §5: each quad with canonical labels, sorted in code point order."""
        lines = []
        for text, blanks in self.templates:
            terms = list(text)
            for position, label in blanks:
                terms[position] = f"_:{self.canonical[label]}"
            lines.append(_line(terms))
        lines.sort()
        return "".join(lines)


def _work_limit(detail: str) -> CanonicalizationError:
    return CanonicalizationError(
        f"RDFC-1.0 work limit: blank nodes too alike to order cheaply ({detail})",
        code="canonicalization_work_limit",
    )


def _not_unicode() -> CanonicalizationError:
    return CanonicalizationError(
        "RDF term: a literal or IRI holds a lone surrogate, which is not Unicode text",
        code="rdf_term_invalid",
    )


def _loses(path: str, chosen: str) -> bool:
    """§4.8 steps 5.4.4.3 and 5.4.5.5: this path can no longer be the least one."""
    return bool(chosen) and len(path) >= len(chosen) and path > chosen
