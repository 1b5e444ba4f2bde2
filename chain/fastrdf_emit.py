"""The second half of chain.fastrdf: expanded items to RDF quads, as pyld's node map and
_graph_to_rdf give them (the same triples, other blank node labels). Like the expansion, it
raises Fallback where pyld's own path must judge.
"""

from __future__ import annotations

import math
from typing import Any, Final

# pyld's own helpers, so numbers and JSON literals mean exactly what they mean on the pyld path
# (canonicalize is the JCS function pyld imports).
from pyld.jsonld import _canonicalize_double, _is_double, _is_integer
from pyld.jsonld import canonicalize as jcs_canonicalize

from .fastrdf_context import Fallback
from .nquads import _LANGTAG, _SURROGATE, _VALID_IRI, BlankNode, Iri, Literal, Quad

__all__ = ["RDF_TYPE", "Emitter", "Item", "Node"]

_RDF: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XSD: Final = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE: Final = Iri(_RDF + "type")
_RDF_FIRST: Final = Iri(_RDF + "first")
_RDF_REST: Final = Iri(_RDF + "rest")
_RDF_NIL: Final = Iri(_RDF + "nil")
_RDF_JSON: Final = _RDF + "JSON"
_XSD_DOUBLE: Final = _XSD + "double"

# Expanded items: a node, a value ("V", value, datatype, language), a list ("L", items) or a
# graph object ("G", items), as pyld's expanded JSON-LD would hold them.
Item = Any


class Node:
    """An expanded node object: its @id (None: a blank node), @type IRIs and properties."""

    __slots__ = ("id", "props", "types")

    def __init__(self, node_id: str | None, types: list[str], props: dict[str, list[Item]]):
        self.id = node_id
        self.types = types
        self.props = props


class Emitter:
    """pyld's node map and _graph_to_rdf in one walk: the same triples, other blank labels."""

    __slots__ = ("blank_count", "json_seen", "labels", "quads")

    def __init__(self) -> None:
        self.quads: list[Quad] = []
        self.labels: dict[str, BlankNode] = {}
        self.blank_count = 0
        self.json_seen: set[tuple[Any, ...]] = set()

    def fresh(self) -> BlankNode:
        self.blank_count += 1
        return BlankNode(f"f{self.blank_count}")

    def subject(self, node_id: str | None) -> Iri | BlankNode:
        if node_id is None:
            return self.fresh()
        if not node_id.startswith("_:"):
            return Iri(node_id)
        blank = self.labels.get(node_id)
        if blank is None:
            blank = self.labels[node_id] = self.fresh()
        return blank

    def node(self, node: Node, graph: Iri | BlankNode | None) -> Iri | BlankNode:
        subject = self.subject(node.id)
        quads = self.quads
        for type_iri in node.types:
            quads.append(Quad(subject, RDF_TYPE, Iri(type_iri), graph))
        for predicate_iri, items in node.props.items():
            predicate = Iri(predicate_iri)
            for item in items:
                if type(item) is tuple and item[0] == "V" and item[2] == "@json":
                    self.check_json((subject, predicate, graph))
                quads.append(Quad(subject, predicate, self.object(item, graph), graph))
        return subject

    def object(self, item: Item, graph: Iri | BlankNode | None) -> Iri | BlankNode | Literal:
        if isinstance(item, Node):
            return self.node(item, graph)
        kind = item[0]
        if kind == "V":
            return _literal(item)
        if kind == "L":
            return self.list(item[1], graph)
        name = self.fresh()
        for inner in item[1]:
            if isinstance(inner, Node):  # values and lists in a graph object make no triples
                self.node(inner, name)
        return name

    def check_json(self, key: tuple[Any, ...]) -> None:
        """pyld drops a JSON literal equal (by Python ==, so {"a": 1} == {"a": true}) to another
        of the same node and property; rather than mimic that, leave such nodes to pyld."""
        if key in self.json_seen:
            raise Fallback("several JSON literals on one property")
        self.json_seen.add(key)

    def list(self, items: list[Item], graph: Iri | BlankNode | None) -> Iri | BlankNode:
        if not items:
            return _RDF_NIL
        head = node = self.fresh()
        for index, item in enumerate(items):
            if isinstance(item, tuple) and item[0] != "V":
                raise Fallback("list or graph inside a list")
            self.quads.append(Quad(node, _RDF_FIRST, self.object(item, graph), graph))
            rest = self.fresh() if index < len(items) - 1 else _RDF_NIL
            self.quads.append(Quad(node, _RDF_REST, rest, graph))
            node = rest  # type: ignore[assignment]
        return head


def _literal(item: Item) -> Literal:
    """pyld _object_to_rdf for a value object (json-ld-1.1, no rdfDirection)."""
    try:
        return _convert_literal(item)
    except OverflowError as exc:  # an integer too large for a double: pyld's path refuses it
        raise Fallback("number out of range") from exc


def _convert_literal(item: Item) -> Literal:
    _, value, datatype, language = item
    if type(value) is str and datatype != _XSD_DOUBLE and datatype != "@json":
        # the number branches below never apply to a string: skip their ABC checks
        if language is not None:
            return _checked_literal(value, datatype or _RDF + "langString", language)
        return _checked_literal(value, datatype or _XSD + "string", None)
    if datatype == "@json":
        try:
            text = jcs_canonicalize(value).decode("utf-8")
        except (TypeError, ValueError) as exc:
            raise Fallback("JSON literal pyld may refuse") from exc
        return _checked_literal(text, _RDF_JSON, None)
    if isinstance(value, bool):
        return _checked_literal("true" if value else "false", datatype or _XSD + "boolean", None)
    if _is_double(value):
        return _checked_literal(_canonicalize_double(value), datatype or _XSD + "double", None)
    if datatype == _XSD_DOUBLE:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return _checked_literal(value, datatype, None)
        if not math.isfinite(number):
            raise Fallback("non-finite double")
        return _checked_literal(_canonicalize_double(number), datatype, None)
    if _is_integer(value) and abs(value) >= 1e21:
        return _checked_literal(_canonicalize_double(value), datatype or _XSD + "double", None)
    if _is_integer(value):
        return _checked_literal(str(int(value)), datatype or _XSD + "integer", None)
    if language is not None:
        return _checked_literal(value, datatype or _RDF + "langString", language)
    return _checked_literal(value, datatype or _XSD + "string", None)


def _checked_literal(value: Any, datatype: str, language: str | None) -> Literal:
    """The checks quads_from_pyld makes; anything it would refuse goes to pyld."""
    if not isinstance(value, str) or _SURROGATE.search(value):
        raise Fallback("literal pyld's path must judge")
    if _VALID_IRI.fullmatch(datatype) is None:
        raise Fallback("datatype is not an IRI N-Quads can carry")
    if language is not None and _LANGTAG.fullmatch(language) is None:
        raise Fallback("malformed language tag")
    return Literal(value, datatype, language)
