"""Compiled JSON-LD active contexts for chain.fastrdf: pyld processes each pinned context (and
each scoped context reached from it) once per thread; the result is frozen into plain lookups.

pyld does the context processing itself, so term definitions, protected terms and scoped
contexts mean exactly what they mean on the pyld path. Every compiled `ActiveContext` is
immutable; the memo tables live in a `threading.local`, so no thread sees another's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from pyld import jsonld
from pyld.context_resolver import ContextResolver

from .contexts import context_urls, document_loader
from .errors import ContextError
from .nquads import _VALID_IRI

__all__ = ["ActiveContext", "Fallback", "Loader", "Term", "base_context", "derive"]

Loader = Callable[[str, Any], dict[str, Any]]

# Containers the compiled path expands; a term with any other is left to pyld.
_SUPPORTED_CONTAINERS: Final = frozenset({"@set", "@list", "@graph"})
_UNSUPPORTED_TERM_KEYS: Final = ("@direction", "@index", "@nest")
_KEYWORDS: Final = frozenset(jsonld.KEYWORDS)
# Memo sizes per thread. The pinned contexts need far fewer, but a stranger may send many
# orders of the pinned URLs; past these, contexts are still compiled, just not kept.
_MAX_BASES: Final = 64
_MAX_MEMO: Final = 2048


class Fallback(Exception):
    """The compiled path does not handle this document: use pyld."""


@dataclass(frozen=True, slots=True)
class Term:
    iri: str | None  # may be a keyword ("id" → "@id")
    type: str | None
    containers: frozenset[str]
    has_language: bool  # the term sets @language (possibly to null)
    language: str | None
    scoped: Any  # the term's own @context (raw JSON as pyld keeps it), or None
    prefix: bool  # usable as the prefix of a compact IRI
    valid: bool  # iri is a keyword or an absolute IRI both pyld and canonical N-Quads accept
    supported: bool  # False: a feature the compiled path leaves to pyld


class ActiveContext:
    """One pyld active context, frozen: term → Term (None: explicitly undefined)."""

    __slots__ = ("language", "options", "previous", "pyld", "terms", "vocab")

    def __init__(
        self,
        pyld_context: dict[str, Any],
        terms: dict[str, Term | None],
        previous: ActiveContext | None,
        options: dict[str, Any],
    ) -> None:
        self.pyld = pyld_context
        self.options = options  # pyld's options (loader, base) its scoped contexts need
        self.terms = terms
        self.previous = previous  # set by a type-scoped context: nested nodes revert to it
        self.vocab: str | None = pyld_context.get("@vocab")
        self.language: str | None = pyld_context.get("@language")


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.processor = jsonld.JsonLdProcessor()
        self.options: dict[tuple[bool, Loader], dict[str, Any]] = {}
        self.bases: dict[tuple[bool, Loader, tuple[str, ...]], ActiveContext | None] = {}
        self.compiled: dict[int, tuple[dict[str, Any], ActiveContext]] = {}
        self.transitions: dict[tuple[ActiveContext, str, int], tuple[Any, ActiveContext]] = {}


_state = _ThreadState()


def _options(safe: bool, base: str | None, loader: Loader) -> dict[str, Any]:
    """The options pyld's expand() would pass to _process_context on the pyld path."""
    options = _state.options.get((safe, loader))
    if options is None:
        options = _state.options[safe, loader] = {
            "isFrame": False,
            "keepFreeFloatingNodes": False,
            "documentLoader": loader,
            "contextResolver": ContextResolver({}, loader),
            "extractAllScripts": False,
            "processingMode": "json-ld-1.1",
            "base": base,
        }
    return options


def base_context(
    urls: tuple[str, ...], safe: bool, base: str | None, loader: Loader = document_loader
) -> ActiveContext:
    """The active context of a document whose @context is these pinned URLs (another loader
    is for tests: its documents are trusted not to change)."""
    key = (safe, loader, urls)
    if key in _state.bases:
        found = _state.bases[key]
        if found is None:
            raise Fallback("context set not compilable")
        return found
    if loader is document_loader and not _pinned().issuperset(urls):
        raise Fallback("a context that is not pinned")  # never memoised: strangers' strings
    options = _options(safe, base, loader)
    processor = _state.processor
    try:
        initial = processor._get_initial_context(options)
        local: Any = urls[0] if len(urls) == 1 else list(urls)
        compiled: ActiveContext | None = _compile(
            processor._process_context(initial, local, options), options
        )
    except (jsonld.JsonLdError, Fallback):
        compiled = None  # pyld gives the error (or handles the feature) itself
    if len(_state.bases) < _MAX_BASES:
        _state.bases[key] = compiled
    if compiled is None:
        raise Fallback("context set not compilable")
    return compiled


def derive(context: ActiveContext, local: Any, scoped_by_type: bool) -> ActiveContext:
    """`context` with a property-scoped (override protected) or type-scoped (not propagated)
    context applied, as pyld's expansion applies them."""
    kind = "T" if scoped_by_type else "P"
    key = (context, kind, id(local))
    hit = _state.transitions.get(key)
    if hit is not None:
        return hit[1]
    try:
        processed = _state.processor._process_context(
            context.pyld,
            local,
            context.options,
            override_protected=not scoped_by_type,
            propagate=not scoped_by_type,
        )
    except jsonld.JsonLdError as exc:
        raise Fallback("scoped context refused") from exc
    derived = _compile(processed, context.options)
    if len(_state.transitions) < _MAX_MEMO:
        _state.transitions[key] = (local, derived)  # keeps `local` alive, so its id stays unique
    return derived


def _compile(pyld_context: dict[str, Any], options: dict[str, Any]) -> ActiveContext:
    hit = _state.compiled.get(id(pyld_context))
    if hit is not None and hit[0] is pyld_context:
        return hit[1]
    if "@base" in pyld_context or "@direction" in pyld_context:
        raise Fallback("@base or @direction in a context")
    previous_pyld = pyld_context.get("previousContext")
    previous = _compile(previous_pyld, options) if previous_pyld is not None else None
    terms = {name: _term(mapping) for name, mapping in pyld_context["mappings"].items()}
    compiled = ActiveContext(pyld_context, terms, previous, options)
    if len(_state.compiled) < _MAX_MEMO:
        _state.compiled[id(pyld_context)] = (pyld_context, compiled)
    return compiled


def _term(mapping: dict[str, Any] | None) -> Term | None:
    if mapping is None:
        return None
    container = mapping.get("@container", [])
    containers = frozenset(container if isinstance(container, list) else [container])
    supported = (
        not mapping.get("reverse")
        and containers <= _SUPPORTED_CONTAINERS
        and not ("@list" in containers and "@graph" in containers)
        and not any(key in mapping for key in _UNSUPPORTED_TERM_KEYS)
    )
    iri = mapping.get("@id")
    return Term(
        iri=iri if isinstance(iri, str) else None,
        type=mapping.get("@type"),
        containers=containers,
        has_language="@language" in mapping,
        language=mapping.get("@language"),
        scoped=mapping.get("@context"),
        prefix=bool(mapping.get("_prefix")),
        valid=isinstance(iri, str) and (iri in _KEYWORDS or _usable_iri(iri)),
        supported=supported and (iri is None or isinstance(iri, str)),
    )


def _usable_iri(iri: str) -> bool:
    """Absolute for canonical N-Quads and for pyld (which also refuses Unicode spaces)."""
    if _VALID_IRI.fullmatch(iri) is None:
        return False
    return iri.isascii() or not any(char.isspace() for char in iri)


def _pinned() -> frozenset[str]:
    try:
        return context_urls()
    except ContextError:
        return frozenset()  # not installed: pyld's path reports it
