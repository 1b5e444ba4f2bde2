"""N-Quads: RDFC-1.0 canonical escaping, strict parsing, and pyld's to_rdf dict."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyld import jsonld

from badgechain.chain.errors import CanonicalizationError, DecodeError, InputTooLarge
from badgechain.chain.nquads import (
    MAX_NQUADS_BYTES,
    RDF_LANGSTRING,
    XSD_STRING,
    BlankNode,
    Iri,
    Literal,
    Quad,
    parse_nquads,
    quads_from_pyld,
    serialize_nquads,
    serialize_quad,
    serialize_term,
)
from tests.conftest import shared_path

S, P = Iri("urn:ex:s"), Iri("urn:ex:p")
XSD_INTEGER = "http://www.w3.org/2001/XMLSchema#integer"


def _literal_line(value: str) -> str:
    return serialize_quad(Quad(S, P, Literal(value)))


# --- canonical escaping -----------------------------------------------------------------------


def test_jsonld_js_canonical_output_reserializes_byte_for_byte() -> None:
    path = shared_path(
        "interop",
        "vectors",
        "generated",
        "rdfc-escaping",
        "edge-cases.expected-rdfc10.jsonld-js.nq",
    )
    text = path.read_text(encoding="utf-8")
    quads = parse_nquads(text)
    assert len(quads) == text.count("\n")
    assert serialize_nquads(quads) == text
    # The file's first named literal really carries the characters pyld gets wrong.
    name = next(
        q.object
        for q in quads
        if q.subject == Iri("did:example:issuer") and q.predicate.value.endswith("name")
    )
    assert isinstance(name, Literal)
    assert {"\t", "\x07", "\b", "\f", "\x7f", '"', "\\", "\n", "\r"} <= set(name.value)


@pytest.mark.parametrize(
    ("char", "escaped"),
    [
        ("\b", "\\b"),
        ("\t", "\\t"),
        ("\n", "\\n"),
        ("\f", "\\f"),
        ("\r", "\\r"),
        ('"', '\\"'),
        ("\\", "\\\\"),
        ("\x00", "\\u0000"),
        ("\x07", "\\u0007"),
        ("\x0b", "\\u000B"),
        ("\x0e", "\\u000E"),
        ("\x1f", "\\u001F"),
        ("\x7f", "\\u007F"),
    ],
)
def test_literal_escapes_are_rdfc10_canonical(char: str, escaped: str) -> None:
    assert _literal_line(f"a{char}b") == f'<urn:ex:s> <urn:ex:p> "a{escaped}b" .\n'


def test_every_c0_control_and_del_is_escaped_and_nothing_else_is() -> None:
    echars = {"\\b", "\\t", "\\n", "\\f", "\\r", '\\"', "\\\\"}
    for code in range(0x80):
        body = serialize_term(Literal(chr(code)))[1:-1]
        if code < 0x20 or code == 0x7F or chr(code) in '"\\':
            assert body in {*echars, f"\\u{code:04X}"}, hex(code)  # upper-case hex only
        else:
            assert body == chr(code), hex(code)


@pytest.mark.parametrize(
    "text", ["\x80\x9f", "\u00e9", "\u2028\u2029", "\ufeff", "\U0001f393", "'"]
)
def test_non_ascii_c1_and_astral_are_written_raw(text: str) -> None:
    assert _literal_line(text) == f'<urn:ex:s> <urn:ex:p> "{text}" .\n'


def test_term_forms() -> None:
    assert serialize_term(Literal("x")) == '"x"'
    assert serialize_term(Literal("x", XSD_STRING)) == '"x"'
    assert serialize_term(Literal("1", XSD_INTEGER)) == f'"1"^^<{XSD_INTEGER}>'
    assert serialize_term(Literal("chat", language="fr-BE")) == '"chat"@fr-BE'
    assert serialize_term(BlankNode("b0")) == "_:b0"
    assert (
        serialize_quad(Quad(BlankNode("x"), P, S, Iri("urn:ex:g")))
        == "_:x <urn:ex:p> <urn:ex:s> <urn:ex:g> .\n"
    )
    assert (
        serialize_quad(Quad(S, P, S, BlankNode("g"))) == "<urn:ex:s> <urn:ex:p> <urn:ex:s> _:g .\n"
    )


def test_language_makes_a_lang_string() -> None:
    assert Literal("x", language="en").datatype == RDF_LANGSTRING
    with pytest.raises(DecodeError):
        Literal("x", XSD_INTEGER, "en")


# --- parsing ------------------------------------------------------------------------------------


def test_parses_escapes_graphs_comments_and_line_endings() -> None:
    text = (
        "# a comment\r\n"
        '<urn:ex:s> <urn:ex:p> "t\\t\\b\\n\\r\\f\\"\\\'\\\\ \\u00E9\\U0001F393" .\r\n'
        "\n"
        '_:b1 <urn:ex:\\u0070> "1"^^<urn:ex:\\u0064t> <urn:ex:g> . # trailing\r'
        "<urn:ex:s>\t<urn:ex:p>_:b.1 _:g.\n"
        '<urn:ex:s> <urn:ex:p> "hi"@en-GB .'
    )
    assert parse_nquads(text) == [
        Quad(S, P, Literal("t\t\b\n\r\f\"'\\ \u00e9\U0001f393")),
        Quad(BlankNode("b1"), Iri("urn:ex:p"), Literal("1", "urn:ex:dt"), Iri("urn:ex:g")),
        Quad(S, P, BlankNode("b.1"), BlankNode("g")),
        Quad(S, P, Literal("hi", RDF_LANGSTRING, "en-GB")),
    ]


def test_empty_document_has_no_quads() -> None:
    assert parse_nquads("") == []
    assert parse_nquads("\n  \n# only a comment\n") == []


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('<urn:ex:s> <urn:ex:p> "abc', "unterminated"),
        ("<urn:ex:s> <urn:ex:p> <urn:ex:o", "expected"),
        ("<urn:ex:s> <urn:ex:p>", "expected"),
        ("<urn:ex:s> <urn:ex:p> <urn:ex:o>", "graph name or '.'"),
        ("<urn:ex:s> <urn:ex:p> <urn:ex:o> <urn:ex:g> <urn:ex:x> .", "expected '.'"),
        ("<urn:ex:s> <urn:ex:p> <urn:ex:o> . junk", "expected '.'"),
        ('<urn:ex:s> <urn:ex:p> "a\\x" .', "literal"),
        ('<urn:ex:s> <urn:ex:p> "a\\u12" .', "literal"),
        ('<urn:ex:s> <urn:ex:p> "\\uD800" .', "not a Unicode scalar value"),
        ('<urn:ex:s> <urn:ex:p> "\\U00110000" .', "not a Unicode scalar value"),
        ("<urn:ex:s> <urn:ex:p> <urn:ex:\\n> .", "expected"),
        ("<relative> <urn:ex:p> <urn:ex:o> .", "not absolute"),
        ("<urn:ex:s> <#frag> <urn:ex:o> .", "not absolute"),
        ('<urn:ex:s> <urn:ex:p> "x"^^<xsd:string\\u0020x> .', "may not contain"),
        ("<urn:ex:s> <urn:ex:p> <urn:ex:a b> .", "expected"),
        ('"lit" <urn:ex:p> <urn:ex:o> .', "subject"),
        ("<urn:ex:s> _:p <urn:ex:o> .", "predicate"),
        ('<urn:ex:s> <urn:ex:p> <urn:ex:o> "g" .', "graph"),
        ("_: <urn:ex:p> <urn:ex:o> .", "blank node"),
        ('<urn:ex:s> <urn:ex:p> "x"@1en .', "expected"),
        ('<urn:ex:s> <urn:ex:p> "x"@en^^<urn:ex:d> .', "graph"),
        ("<urn:ex:s> <urn:ex:p> 42 .", "object"),
    ],
)
def test_malformed_statements_raise_decode_error_with_line_number(line: str, why: str) -> None:
    text = f"<urn:ex:s> <urn:ex:p> <urn:ex:o> .\n# fine\n{line}\n"
    with pytest.raises(DecodeError, match=r"line 3\b") as caught:
        parse_nquads(text)
    assert why in caught.value.message
    assert caught.value.code == "decode_error"


def test_lone_surrogate_in_text_is_refused() -> None:
    with pytest.raises(DecodeError, match="line 2"):
        parse_nquads('<urn:ex:s> <urn:ex:p> "ok" .\n<urn:ex:s> <urn:ex:p> "\ud800" .\n')


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(InputTooLarge):
        parse_nquads("#" * (MAX_NQUADS_BYTES + 1))
    # Under the limit in characters, over it in UTF-8 bytes.
    with pytest.raises(InputTooLarge):
        parse_nquads("#" + "\u00e9" * (MAX_NQUADS_BYTES // 2))


# --- round trip ---------------------------------------------------------------------------------

_iris = st.sampled_from(
    ["urn:ex:a", "http://example.org/b#c", "did:key:z6Mk\u00e9", "urn:x:\U0001f393"]
).map(Iri)
_LABEL_CHARS = string.ascii_letters + string.digits + "_"
_blanks = st.builds(
    lambda head, middle: BlankNode(head + middle + head),
    st.text(_LABEL_CHARS, min_size=1, max_size=2),
    st.text(_LABEL_CHARS + ".-", max_size=6),
)
_languages = st.lists(st.text(string.ascii_letters, min_size=1, max_size=8), min_size=1, max_size=3)
_literals = st.one_of(
    st.builds(Literal, st.text()),
    st.builds(Literal, st.text(), st.sampled_from([XSD_INTEGER, "urn:ex:dt"])),
    st.builds(
        Literal,
        st.text(),
        st.just(RDF_LANGSTRING),
        _languages.map("-".join),
    ),
)
_quads = st.builds(
    Quad,
    st.one_of(_iris, _blanks),
    _iris,
    st.one_of(_iris, _blanks, _literals),
    st.one_of(st.none(), _iris, _blanks),
)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    st.lists(_quads, max_size=5),
    st.text(alphabet='\x00\x07\x0b\x1f\x7f"\\\n\r\t\b\f\u2028\U0001f393a'),
)
def test_parse_inverts_serialize(quads: list[Quad], controls: str) -> None:
    quads.append(Quad(S, P, Literal(controls)))
    text = serialize_nquads(quads)
    assert text.count("\n") == len(quads)  # every newline in a literal was escaped
    assert parse_nquads(text) == quads


# --- pyld ---------------------------------------------------------------------------------------


def _term(kind: str, value: str, **extra: str) -> dict[str, str]:
    return {"type": kind, "value": value, **extra}


def test_quads_from_pyld_maps_every_term_kind() -> None:
    dataset = {
        "@default": [
            {
                "subject": _term("IRI", "urn:ex:s"),
                "predicate": _term("IRI", "urn:ex:p"),
                "object": _term("literal", "chat", datatype=RDF_LANGSTRING, language="fr"),
            },
            {
                "subject": _term("blank node", "_:b0"),
                "predicate": _term("IRI", "urn:ex:p"),
                "object": _term("literal", "1", datatype=XSD_INTEGER),
            },
        ],
        "_:b1": [
            {
                "subject": _term("IRI", "urn:ex:s"),
                "predicate": _term("IRI", "urn:ex:p"),
                "object": _term("blank node", "_:b0"),
            }
        ],
        "urn:ex:g": [
            {
                "subject": _term("IRI", "urn:ex:s"),
                "predicate": _term("IRI", "urn:ex:p"),
                "object": _term("literal", "x", datatype=XSD_STRING),
            }
        ],
    }
    assert quads_from_pyld(dataset) == [
        Quad(S, P, Literal("chat", RDF_LANGSTRING, "fr")),
        Quad(BlankNode("b0"), P, Literal("1", XSD_INTEGER)),
        Quad(S, P, BlankNode("b0"), BlankNode("b1")),
        Quad(S, P, Literal("x"), Iri("urn:ex:g")),
    ]


def test_quads_from_pyld_reads_real_pyld_output() -> None:
    doc = {
        "@context": {"ex": "urn:ex:", "n": {"@id": "ex:n", "@type": "ex:dt"}},
        "@id": "ex:s",
        "ex:p": [{"@value": "v", "@language": "en"}, {"@value": 5}, {"ex:q": "nested"}],
        "n": "typed",
        "ex:graph": {"@id": "ex:g", "@graph": {"@id": "ex:t", "ex:p": {"@id": "ex:o"}}},
    }
    quads = quads_from_pyld(jsonld.to_rdf(doc, {}))
    assert set(quads) == {
        Quad(S, P, Literal("v", RDF_LANGSTRING, "en")),
        Quad(S, P, Literal("5", XSD_INTEGER)),
        Quad(S, P, BlankNode("b0")),
        Quad(BlankNode("b0"), Iri("urn:ex:q"), Literal("nested")),
        Quad(S, Iri("urn:ex:n"), Literal("typed", "urn:ex:dt")),
        Quad(S, Iri("urn:ex:graph"), Iri("urn:ex:g")),
        Quad(Iri("urn:ex:t"), P, Iri("urn:ex:o"), Iri("urn:ex:g")),
    }


def _one_triple(obj: dict[str, Any], subject: Any = None) -> dict[str, Any]:
    return {
        "@default": [
            {
                "subject": subject or _term("IRI", "urn:ex:s"),
                "predicate": _term("IRI", "urn:ex:p"),
                "object": obj,
            }
        ]
    }


@pytest.mark.parametrize(
    ("dataset", "code"),
    [
        (_one_triple(_term("IRI", "urn:ex:a b")), "rdf_term_invalid"),
        (_one_triple(_term("IRI", "urn:ex:a>b")), "rdf_term_invalid"),
        (_one_triple(_term("IRI", "relative/path")), "rdf_term_invalid"),
        (_one_triple(_term("literal", "x", datatype="urn:ex:a b")), "rdf_term_invalid"),
        (_one_triple(_term("literal", "x\ud800", datatype=XSD_STRING)), "rdf_term_invalid"),
        (
            _one_triple(_term("literal", "x", datatype=RDF_LANGSTRING, language="en us")),
            "rdf_term_invalid",
        ),
        (
            _one_triple(_term("literal", "x"), subject=_term("literal", "s")),
            "rdf_dataset_malformed",
        ),
        (_one_triple({"type": "IRI", "value": 5}), "rdf_dataset_malformed"),
        (_one_triple({"type": "quoted triple", "value": "x"}), "rdf_dataset_malformed"),
        (_one_triple(_term("blank node", "b0")), "rdf_dataset_malformed"),
        ({"@default": "not a list"}, "rdf_dataset_malformed"),
        ({"@default": ["not a triple"]}, "rdf_dataset_malformed"),
        ([], "rdf_dataset_malformed"),
    ],
)
def test_quads_from_pyld_refuses_what_nquads_cannot_carry(dataset: Any, code: str) -> None:
    with pytest.raises(CanonicalizationError) as caught:
        quads_from_pyld(dataset)
    assert caught.value.code == code
