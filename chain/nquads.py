"""RDF terms, a strict N-Quads parser, and the writer of RDFC-1.0's "canonical n-quads form":
the exact text that blank node hashing and Data Integrity proofs sign.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from .errors import CanonicalizationError, DecodeError, InputTooLarge

__all__ = [
    "MAX_NQUADS_BYTES",
    "RDF_LANGSTRING",
    "XSD_STRING",
    "BlankNode",
    "GraphName",
    "Iri",
    "Literal",
    "Object",
    "Quad",
    "Subject",
    "parse_nquads",
    "quads_from_pyld",
    "serialize_nquads",
    "serialize_quad",
    "serialize_term",
]

XSD_STRING: Final = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANGSTRING: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
MAX_NQUADS_BYTES: Final = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Iri:
    value: str


@dataclass(frozen=True, slots=True)
class BlankNode:
    label: str  # without the "_:" prefix


@dataclass(frozen=True, slots=True)
class Literal:
    value: str
    datatype: str = XSD_STRING
    language: str | None = None

    def __post_init__(self) -> None:
        # RDF 1.1 Concepts §3.3: a language-tagged string has datatype rdf:langString, always.
        if self.language is None or self.datatype == RDF_LANGSTRING:
            return
        if self.datatype != XSD_STRING:
            raise DecodeError(
                f"a literal with language {self.language!r:.40} must be rdf:langString"
            )
        object.__setattr__(self, "datatype", RDF_LANGSTRING)


Subject = Iri | BlankNode
Object = Iri | BlankNode | Literal
GraphName = Iri | BlankNode | None


@dataclass(frozen=True, slots=True)
class Quad:
    subject: Subject
    predicate: Iri
    object: Object
    graph: GraphName = None  # None is the default graph


# --- canonical writer ---------------------------------------------------------------------------

# RDFC-1.0 canonical N-Quads (via RDF 1.2 N-Triples §canonical form): in literals `\` and `"`
# and the five C0 characters with an ECHAR use it; every other U+0000..U+001F and U+007F is a
# UCHAR with upper-case hex; everything else (including all non-ASCII) is written raw.
_ECHARS = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}
_LITERAL_ESCAPES: Final[dict[int, str]] = {
    **{code: f"\\u{code:04X}" for code in [*range(0x20), 0x7F]},
    **_ECHARS,
    ord('"'): '\\"',
    ord("\\"): "\\\\",
}
_NEEDS_ESCAPE: Final = re.compile(r'[\x00-\x1f"\\\x7f]')


def _escape_literal(value: str) -> str:
    if _NEEDS_ESCAPE.search(value) is None:
        return value
    return value.translate(_LITERAL_ESCAPES)


def serialize_term(term: Iri | BlankNode | Literal) -> str:
    """One term in canonical N-Quads form; IRIs are written raw, as the canonical form asks."""
    if isinstance(term, Iri):
        return f"<{term.value}>"
    if isinstance(term, BlankNode):
        return f"_:{term.label}"
    text = f'"{_escape_literal(term.value)}"'
    if term.language is not None:
        return f"{text}@{term.language}"
    if term.datatype == XSD_STRING:  # RDF 1.1 simple literal: the datatype is left implicit
        return text
    return f"{text}^^<{term.datatype}>"


def serialize_quad(quad: Quad) -> str:
    """One canonical N-Quads statement: single spaces, ` .` and a line feed."""
    head = f"{serialize_term(quad.subject)} <{quad.predicate.value}> {serialize_term(quad.object)}"
    if quad.graph is None:
        return f"{head} .\n"
    return f"{head} {serialize_term(quad.graph)} .\n"


def serialize_nquads(quads: Iterable[Quad]) -> str:
    """The statements in the given order (RDFC-1.0 sorts them itself; this does not)."""
    return "".join(serialize_quad(quad) for quad in quads)


# --- strict parser (RDF 1.1 N-Quads grammar) ------------------------------------------------------

_PN_CHARS_BASE = (
    "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c-\u200d"
    "\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff"
)
_PN_CHARS_U = _PN_CHARS_BASE + "_:"
_PN_CHARS = _PN_CHARS_U + "\\-0-9\u00b7\u0300-\u036f\u203f-\u2040"
_UCHAR = r"\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}"
_IRI_CHAR = r'[^\x00-\x20<>"{}|^`\\]'
# Written as "unrolled loops" (plain run, then escape + plain run) so a failing match is linear.
_IRIREF = rf"<({_IRI_CHAR}*(?:(?:{_UCHAR}){_IRI_CHAR}*)*)>"
_STRING = rf'"([^"\\\n\r]*(?:(?:\\[tbnrf"\'\\]|{_UCHAR})[^"\\\n\r]*)*)"'

_WS: Final = re.compile(r"[ \t]*")
_IRI_TOKEN: Final = re.compile(_IRIREF)
_BNODE_TOKEN: Final = re.compile(rf"_:([{_PN_CHARS_U}0-9](?:[{_PN_CHARS}.]*[{_PN_CHARS}])?)")
_LITERAL_TOKEN: Final = re.compile(
    rf"{_STRING}(?:[ \t]*\^\^[ \t]*{_IRIREF}|[ \t]*@([a-zA-Z]+(?:-[a-zA-Z0-9]+)*))?"
)
_END: Final = re.compile(r"\.[ \t]*(?:#.*)?")
_BLANK_LINE: Final = re.compile(r"[ \t]*(?:#.*)?")
_EOL: Final = re.compile(r"\r\n?|\n")
_ESCAPE: Final = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))")
_ABSOLUTE_IRI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_VALID_IRI: Final = re.compile(r'[A-Za-z][A-Za-z0-9+.\-]*:[^\x00-\x20<>"{}|^`\\]*')
_LANGTAG: Final = re.compile(r"[a-zA-Z]+(?:-[a-zA-Z0-9]+)*")
_ECHAR_VALUES: Final = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f"}


class _LineError(Exception):
    """A syntax error inside one line; `parse_nquads` adds the line number."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


def parse_nquads(text: str) -> list[Quad]:
    """Every statement of an N-Quads document, escapes decoded; raises DecodeError on bad input."""
    _check_size(text)
    quads: list[Quad] = []
    for number, line in enumerate(_EOL.split(text), start=1):
        if _BLANK_LINE.fullmatch(line):
            continue
        try:
            quads.append(_parse_line(line))
        except _LineError as exc:
            raise DecodeError(
                f"N-Quads line {number}, column {exc.column + 1}: {exc.message}"
            ) from None
    return quads


def _check_size(text: str) -> None:
    if len(text) > MAX_NQUADS_BYTES:
        raise InputTooLarge(f"N-Quads input is over {MAX_NQUADS_BYTES} bytes")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:  # a lone surrogate: not a Unicode scalar value
        line = text.count("\n", 0, exc.start) + 1
        raise DecodeError(f"N-Quads line {line}: text is not valid Unicode") from None
    if size > MAX_NQUADS_BYTES:
        raise InputTooLarge(f"N-Quads input is over {MAX_NQUADS_BYTES} bytes")


def _parse_line(line: str) -> Quad:
    subject, pos = _node(line, _skip(line, 0), "subject")
    predicate, pos = _iri_term(line, pos, "predicate")
    obj: Object
    if line.startswith('"', pos):
        obj, pos = _literal_term(line, pos)
    else:
        obj, pos = _node(line, pos, "object")
    graph: GraphName = None
    if not line.startswith(".", pos):
        graph, pos = _node(line, pos, "graph name or '.'")
    if _END.fullmatch(line, pos) is None:
        raise _LineError("expected '.' at the end of the statement", pos)
    return Quad(subject, predicate, obj, graph)


def _skip(line: str, pos: int) -> int:
    """The position of the next token: N-Quads allows spaces and tabs between any two."""
    match = _WS.match(line, pos)
    return match.end() if match else pos


def _node(line: str, pos: int, role: str) -> tuple[Iri | BlankNode, int]:
    if line.startswith("<", pos):
        return _iri_term(line, pos, role)
    if not line.startswith("_", pos):
        raise _LineError(f"expected {role}", pos)
    match = _BNODE_TOKEN.match(line, pos)
    if match is None:
        raise _LineError(f"malformed blank node label in {role}", pos)
    return BlankNode(match.group(1)), _skip(line, match.end())


def _iri_term(line: str, pos: int, role: str) -> tuple[Iri, int]:
    match = _IRI_TOKEN.match(line, pos) if line.startswith("<", pos) else None
    if match is None:
        raise _LineError(f"expected an IRI as {role}", pos)
    return Iri(_iri(match.group(1), pos)), _skip(line, match.end())


def _literal_term(line: str, pos: int) -> tuple[Literal, int]:
    match = _LITERAL_TOKEN.match(line, pos)
    if match is None:
        raise _LineError("malformed or unterminated literal", pos)
    return _literal(match, pos), _skip(line, match.end())


def _literal(match: re.Match[str], pos: int) -> Literal:
    value = _unescape(match.group(1), pos) if "\\" in match.group(1) else match.group(1)
    datatype, language = match.group(2), match.group(3)
    if language is not None:
        return Literal(value, RDF_LANGSTRING, language)
    if datatype is not None:
        return Literal(value, _iri(datatype, pos))
    return Literal(value)


def _iri(raw: str, pos: int) -> str:
    value = _unescape(raw, pos) if "\\" in raw else raw
    if not _ABSOLUTE_IRI.match(value):
        raise _LineError(f"IRI <{value:.60}> is not absolute", pos)
    if value is not raw and _VALID_IRI.fullmatch(value) is None:
        raise _LineError("an escape in an IRI decodes to a character IRIs may not contain", pos)
    return value


def _unescape(raw: str, pos: int) -> str:
    def decode(match: re.Match[str]) -> str:
        short, long, echar = match.groups()
        if echar is not None:
            return _ECHAR_VALUES.get(echar, echar)  # the grammar allows only tbnrf"'\ here
        code = int(short or long, 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise _LineError(f"escape U+{code:04X} is not a Unicode scalar value", pos)
        return chr(code)

    return _ESCAPE.sub(decode, raw)


# --- pyld's to_rdf output ------------------------------------------------------------------------

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def quads_from_pyld(dataset: dict[str, Any]) -> list[Quad]:
    """Our quads from pyld 3.3.0's `to_rdf` dict ({graph name or "@default": [triple, ...]}).

    Terms that canonical N-Quads cannot carry unambiguously (an IRI with a space or `>`, a bad
    language tag, text that is not Unicode) raise CanonicalizationError instead of being signed.
    """
    if not isinstance(dataset, dict):
        raise _malformed("the dataset is not a dict")
    nodes: dict[tuple[str, str], Iri | BlankNode] = {}  # IRIs repeat: check each one once
    quads: list[Quad] = []
    for name, triples in dataset.items():
        graph = None if name == "@default" else _pyld_graph_name(name)
        if not isinstance(triples, list):
            raise _malformed(f"graph {name!r:.60} is not a list of triples")
        quads.extend(_pyld_quad(triple, graph, nodes) for triple in triples)
    return quads


def _pyld_quad(
    triple: Any, graph: Iri | BlankNode | None, nodes: dict[tuple[str, str], Iri | BlankNode]
) -> Quad:
    if not isinstance(triple, dict):
        raise _malformed("a triple is not a dict")
    subject = _pyld_term(triple.get("subject"), nodes)
    predicate = _pyld_term(triple.get("predicate"), nodes)
    if isinstance(subject, Literal) or not isinstance(predicate, Iri):
        raise _malformed("a triple's subject is a literal or its predicate is not an IRI")
    return Quad(subject, predicate, _pyld_term(triple.get("object"), nodes), graph)


def _pyld_term(
    node: Any, nodes: dict[tuple[str, str], Iri | BlankNode]
) -> Iri | BlankNode | Literal:
    if not isinstance(node, dict):
        raise _malformed("a term is not a dict")
    kind, value = node.get("type"), node.get("value")
    if not isinstance(kind, str) or not isinstance(value, str):
        raise _malformed("a term's type or value is not a string")
    if kind == "literal":
        return _pyld_literal(node, value)
    term = nodes.get((kind, value))
    if term is None:
        if kind == "IRI":
            term = Iri(_checked_iri(value))
        elif kind == "blank node":
            term = _pyld_blank(value)
        else:
            raise _malformed(f"unknown term type {kind!r:.40}")
        nodes[kind, value] = term
    return term


def _pyld_literal(node: dict[str, Any], value: str) -> Literal:
    if _SURROGATE.search(value):
        raise _invalid_term("a literal holds a lone surrogate, which is not Unicode text")
    datatype, language = node.get("datatype", XSD_STRING), node.get("language")
    if not isinstance(datatype, str):
        raise _malformed("a literal's datatype is not a string")
    if language is None:
        return Literal(value, _checked_iri(datatype))
    if not isinstance(language, str) or _LANGTAG.fullmatch(language) is None:
        raise _invalid_term(f"language tag {language!r:.40} is not well formed")
    return Literal(value, RDF_LANGSTRING, language)


def _pyld_graph_name(name: Any) -> Iri | BlankNode:
    if not isinstance(name, str):
        raise _malformed("a graph name is not a string")
    return _pyld_blank(name) if name.startswith("_:") else Iri(_checked_iri(name))


def _pyld_blank(value: str) -> BlankNode:
    if not value.startswith("_:") or len(value) == 2:
        raise _malformed(f"blank node {value!r:.40} has no '_:' label")
    return BlankNode(value[2:])


def _checked_iri(value: str) -> str:
    if _VALID_IRI.fullmatch(value) is None:
        raise _invalid_term(f"{value!r:.80} is not an absolute IRI that N-Quads can carry")
    return value


def _malformed(message: str) -> CanonicalizationError:
    return CanonicalizationError(f"RDF dataset: {message}", code="rdf_dataset_malformed")


def _invalid_term(message: str) -> CanonicalizationError:
    return CanonicalizationError(f"RDF term: {message}", code="rdf_term_invalid")
