"""JSON-LD to RDF quads straight from compiled pinned contexts: the everyday case of
chain.jsonld.to_quads without pyld's per-call work.

It follows pyld 3.3.0's expansion, node map and toRdf step by step for the features the pinned
VC / OB / Data Integrity / status contexts use, and raises Fallback at anything else — another
keyword, a container or term feature it does not expand, an inline context, a relative IRI, an
undefined term, any value pyld would refuse — so the caller runs pyld, which then gives its own
answer or error. tests/chain/test_fastrdf.py checks that both paths give the same dataset.
This module expands the document; chain.fastrdf_emit turns the expanded items into quads.
"""

from __future__ import annotations

import math
from typing import Any, Final

# pyld's own helpers, so "absolute IRI" means exactly what it means on the pyld path.
from pyld.jsonld import KEYWORDS, _is_absolute_iri

from .contexts import document_loader
from .fastrdf_context import ActiveContext, Fallback, Loader, Term, base_context, derive
from .fastrdf_emit import RDF_TYPE, Emitter, Item, Node
from .nquads import _VALID_IRI, Quad
from .rdfc import MAX_CANON_QUADS

__all__ = ["Fallback", "to_quads"]

_KEYWORDS: Final = frozenset(KEYWORDS)
# Keywords a node or value object may use on the compiled path; any other one goes to pyld.
_HANDLED_KEYWORDS: Final = frozenset({"@id", "@type", "@value", "@language"})
_EMPTY: Final[frozenset[str]] = frozenset()


def to_quads(
    document: dict[str, Any], *, safe: bool, base: str | None, loader: Loader = document_loader
) -> list[Quad]:
    """The RDF dataset of `document` as pyld would give it, or Fallback."""
    context = document.get("@context")
    if isinstance(context, str):
        urls: tuple[str, ...] = (context,)
    elif isinstance(context, list) and context and all(isinstance(u, str) for u in context):
        urls = tuple(context)
    else:
        raise Fallback("no @context of pinned URLs")
    active = base_context(urls, safe, base, loader)
    try:
        node = _Expansion(safe, base).map(active, None, document, inside_list=False, top=True)
        if node is None:
            return []
        if not isinstance(node, Node):
            raise Fallback("the document is not a node object")
        emitter = Emitter()
        emitter.node(node, None)
    except RecursionError as exc:
        raise Fallback("nested too deeply") from exc
    # pyld's node map never repeats a quad; ours may (a node given twice). RDFC-1.0 drops
    # repeats itself, so they matter only where its size limit counts them.
    quads = emitter.quads
    return list(dict.fromkeys(quads)) if len(quads) > MAX_CANON_QUADS else quads


class _Expansion:
    """pyld's _expand / _expand_object / _expand_value / _expand_iri for the handled subset."""

    __slots__ = ("base", "safe")

    def __init__(self, safe: bool, base: str | None) -> None:
        self.safe = safe
        self.base = base

    # --- IRIs ------------------------------------------------------------------------------

    def checked(self, iri: str) -> str:
        """An absolute IRI both pyld and canonical N-Quads accept, else Fallback."""
        if _VALID_IRI.fullmatch(iri) is None or _has_unicode_space(iri):
            raise Fallback("IRI outside the compiled path")
        if self.base is not None and iri.startswith(self.base):
            raise Fallback("IRI under the relative-IRI sentinel")
        return iri

    def vocab(self, context: ActiveContext, value: Any) -> Any:
        """_expand_iri(vocab=True); a relative result raises Fallback."""
        if not isinstance(value, str):
            return value
        if value.startswith("@"):
            if value in _KEYWORDS:
                return value
            raise Fallback("keyword-like term")
        terms = context.terms
        if value in terms:
            term = terms[value]
            if term is None:
                raise Fallback("explicitly undefined term")
            if term.iri is None or not term.valid:
                raise Fallback("term without a usable IRI")
            return term.iri
        found = self.compact(context, value)
        if found is not None:
            return found
        if context.vocab is not None:
            return self.checked(context.vocab + value)
        raise Fallback("undefined term or relative IRI")

    def keyword_of(self, context: ActiveContext, value: Any) -> str | None:
        """The keyword `value` expands to (a keyword or a term aliasing one), else None: all
        pyld's comparisons with a keyword need (nothing else expands to a keyword)."""
        if not isinstance(value, str):
            return None
        if value in _KEYWORDS:
            return value
        term = context.terms.get(value)
        iri = term.iri if term is not None else None
        return iri if iri is not None and iri in _KEYWORDS else None

    def iri(self, context: ActiveContext, value: str) -> str:
        """_expand_iri(vocab=False) for @id values: never a term, relative → Fallback."""
        if value.startswith("@"):
            raise Fallback("keyword-like @id")
        found = self.compact(context, value)
        if found is None:
            raise Fallback("relative IRI")
        return found

    def compact(self, context: ActiveContext, value: str) -> str | None:
        """The prefix:suffix step of _expand_iri; None when pyld would go on to @vocab/@base."""
        colon = value.find(":")
        if colon <= 0:
            return None
        prefix, suffix = value[:colon], value[colon + 1 :]
        if prefix == "_":
            return value
        if suffix.startswith("//"):
            return self.checked(value)
        term = context.terms.get(prefix)
        if term is not None and term.prefix:
            if term.iri is None:
                raise Fallback("prefix without an IRI")
            return self.checked(term.iri + suffix)
        if _is_absolute_iri(value):
            return self.checked(value)
        return None

    def type_iri(self, context: ActiveContext, value: Any) -> str:
        if not isinstance(value, str):
            raise Fallback("@type value is not a string")
        iri = self.vocab(context, value)
        if not isinstance(iri, str) or iri.startswith(("@", "_:")):
            raise Fallback("@type is a keyword or blank node")
        return iri

    # --- values ----------------------------------------------------------------------------

    def expand(
        self, context: ActiveContext, key: str, value: Any, inside_list: bool
    ) -> list[Item] | None:
        """_expand of a property value: None when pyld drops it, else the expanded items."""
        if value is None:
            return None
        if not isinstance(value, list):
            if isinstance(value, dict):
                item = self.map(context, key, value, inside_list)
                return None if item is None else [item]
            return [self.scalar(context, key, value)]
        term = context.terms.get(key)
        inside = inside_list or (term is not None and "@list" in term.containers)
        items: list[Item] = []
        for element in value:
            if isinstance(element, list):
                if inside:
                    raise Fallback("list of lists")
                items.extend(self.expand(context, key, element, inside) or ())
                continue
            if isinstance(element, dict):
                item = self.map(context, key, element, inside)
                if item is not None:
                    items.append(item)
            elif element is not None:
                items.append(self.scalar(context, key, element))
        return items

    def scalar(self, context: ActiveContext, key: str, value: Any) -> Item:
        """_expand_value in the term's own (possibly scoped) context."""
        if not isinstance(value, (str, int, float)):
            raise Fallback("not a JSON scalar")
        if isinstance(value, float) and not math.isfinite(value):
            raise Fallback("non-finite number")
        term = context.terms.get(key)
        expanded_key = term.iri if term is not None and term.valid else None
        if expanded_key is None:
            expanded_key = self.vocab(context, key)
        kind = term.type if term is not None else None
        if isinstance(value, str) and (kind == "@id" or expanded_key == "@graph"):
            return Node(self.iri(context, value), [], {})
        if isinstance(value, str) and kind == "@vocab":
            return Node(self.type_iri(context, value), [], {})
        if expanded_key.startswith("@"):
            raise Fallback("scalar under a keyword")
        if kind is not None and kind not in ("@id", "@vocab", "@none"):
            return ("V", value, kind, None)
        if isinstance(value, str):
            language = term.language if term is not None and term.has_language else context.language
            return ("V", value, None, language)
        return ("V", value, None, None)

    # --- node and value objects ----------------------------------------------------------

    def map(
        self,
        active: ActiveContext,
        key: str | None,
        element: dict[str, Any],
        inside_list: bool,
        top: bool = False,
    ) -> Item:
        """_expand of a JSON object: contexts first, then its entries, then pyld's checks."""
        if "@context" in element and not top:
            raise Fallback("inline @context")
        names = sorted(element)
        context = self.scoped(active, key, element, names)
        context, type_context = self.type_scoped(context, element, names)
        node_id: str | None = None
        types: list[str] = []
        props: dict[str, list[Item]] = {}
        value: Any = _MISSING
        language: str | None = None
        keywords: set[str] = set()
        type_lists = 0
        terms = context.terms
        for name in names:
            if name == "@context":
                continue
            entry = element[name]
            term = terms.get(name)
            expanded = term.iri if term is not None and term.valid else None
            if expanded is None:
                expanded = self.vocab(context, name)
            if expanded.startswith("@"):
                if expanded not in _HANDLED_KEYWORDS or (
                    expanded in keywords and expanded != "@type"
                ):
                    raise Fallback(f"keyword {expanded} here")
                keywords.add(expanded)
                if expanded == "@id":
                    if not isinstance(entry, str):
                        raise Fallback("@id is not a string")
                    node_id = self.iri(context, entry)
                elif expanded == "@type":
                    type_lists += isinstance(entry, list)
                    entries = entry if isinstance(entry, list) else [entry]
                    types.extend(self.type_iri(type_context, t) for t in entries)
                elif expanded == "@value":
                    if entry is None or isinstance(entry, (dict, list)):
                        raise Fallback("@value is null or structured")
                    value = entry
                elif entry is not None:  # @language; null is dropped
                    if not isinstance(entry, str):
                        raise Fallback("@language is not a string")
                    language = entry.lower()
                continue
            self.property(context, term, name, expanded, entry, props)
        if value is not _MISSING:
            return _value_object(value, types, type_lists, language, node_id, props)
        if language is not None:
            raise Fallback("@language on a node object")
        count = (node_id is not None) + bool(types) + len(props)
        if not inside_list and key is None and (count == 0 or (count == 1 and node_id)):
            return None
        return Node(node_id, types, props)

    def scoped(
        self, active: ActiveContext, key: str | None, element: dict[str, Any], names: list[str]
    ) -> ActiveContext:
        """Revert a type-scoped context, then apply the property-scoped one (pyld _expand)."""
        term = active.terms.get(key) if key is not None else None
        context = active
        must_revert = True
        if active.previous is not None and len(element) <= 2:
            for name in names:
                expanded = self.keyword_of(active, name)
                if expanded == "@value" or (expanded == "@id" and len(element) == 1):
                    must_revert = False
                    break
        if must_revert and context.previous is not None:
            context = context.previous
        if term is not None and term.scoped is not None:
            context = derive(context, term.scoped, False)
        return context

    def type_scoped(
        self, context: ActiveContext, element: dict[str, Any], names: list[str]
    ) -> tuple[ActiveContext, ActiveContext]:
        """pyld _prepare_nested_context: each @type's scoped context, types in sorted order."""
        type_context = context
        type_key: str | None = None
        for name in names:
            if self.keyword_of(context, name) != "@type":
                continue
            type_key = type_key or name
            entry = element[name]
            for type_name in sorted(t for t in _as_list(entry) if isinstance(t, str)):
                term = type_context.terms.get(type_name)
                local = term.scoped if term is not None else None
                if local is not None and local is not False:
                    context = derive(context, local, True)
        if type_key is not None:
            entry = element[type_key]
            first = entry[0] if entry and isinstance(entry, list) else entry
            if self.keyword_of(context, first) == "@json":
                raise Fallback("@json node type")
        return context, type_context

    def property(
        self,
        context: ActiveContext,
        term: Term | None,
        name: str,
        expanded: str,
        entry: Any,
        props: dict[str, list[Item]],
    ) -> None:
        """One non-keyword entry of a node (pyld _expand_object, past the keyword cases);
        `term` is the entry's definition in `context`."""
        if expanded.startswith("_:") or expanded == RDF_TYPE.value:
            raise Fallback("blank node or rdf:type property")
        if term is not None and not term.supported:
            raise Fallback("term feature outside the compiled path")
        term_context = context
        if term is not None and term.scoped is not None:
            term_context = derive(context, term.scoped, False)
            redefined = term_context.terms.get(name)  # pyld reads `reverse` from here
            if redefined is not None and not redefined.supported:
                raise Fallback("term feature outside the compiled path")
        containers = term.containers if term is not None else _EMPTY
        items: list[Item] | None
        if term is not None and term.type == "@json":
            items = [("V", entry, "@json", None)]
        else:
            items = self.expand(term_context, name, entry, inside_list=False)
        if items is None:
            return
        if "@list" in containers:
            items = [("L", items)]
        if "@graph" in containers:
            items = [("G", [item]) for item in items]
        props.setdefault(expanded, []).extend(items)


_MISSING: Final = object()


def _has_unicode_space(iri: str) -> bool:
    """IRIs _VALID_IRI accepts but pyld does not call absolute (Unicode spaces)."""
    return not iri.isascii() and any(char.isspace() for char in iri)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _value_object(
    value: Any,
    types: list[str],
    type_lists: int,
    language: str | None,
    node_id: str | None,
    props: dict[str, list[Item]],
) -> Item:
    """pyld's checks of a value object; every refusal is pyld's to report."""
    if node_id is not None or props or len(types) > 1 or type_lists:
        raise Fallback("value object with other entries")
    if types and language is not None:
        raise Fallback("value object with @type and @language")
    if language is not None and not isinstance(value, str):
        raise Fallback("language-tagged non-string")
    if isinstance(value, float) and not math.isfinite(value):
        raise Fallback("non-finite number")
    return ("V", value, types[0] if types else None, language)
