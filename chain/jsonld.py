"""JSON-LD to RDF under a safe mode, then RDFC-1.0: the canonical form that proofs sign.

pyld expands with our offline loader; its own N-Quads writer and canonicalizer are not
used (their escaping is not RDFC-1.0 and they have no work limit; see interop NOTES 1-2).
Verification runs in worker threads, so no pyld cache is shared between threads (issue 17).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from pyld import jsonld
from pyld.context_resolver import ContextResolver

from . import fastrdf
from .contexts import document_loader
from .errors import BadgeChainError, CanonicalizationError
from .nquads import Iri, Literal, Quad, quads_from_pyld
from .rdfc import canonicalize

__all__ = ["DocumentLoader", "canonize", "to_quads"]

DocumentLoader = Callable[[str, Any], dict[str, Any]]

# Relative IRIs resolve against this base, so safe mode can see them in the output.
_SENTINEL_BASE = "https://relative-iri.invalid/"

# pyld's default is one module-level LRU of resolved contexts, each holding an LRU of processed
# contexts: neither is thread-safe (cachetools raised "OrderedDict mutated during iteration"
# under concurrent verification). We pass our own resolver instead: one cache per thread for the
# pinned loader (its documents never change, so they are parsed once per thread), and a fresh one
# per call for any other loader, whose URLs may name other documents, and for a document with
# contexts of its own, which would fill the thread's caches with a stranger's terms.
_MAX_CACHED_CONTEXTS = 100  # pyld's own default size
_thread_caches = threading.local()


class _ContextCache(OrderedDict[str, Any]):
    """A bounded least-recently-used map, the `shared_cache` pyld's ContextResolver expects."""

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self:
            return default
        self.move_to_end(key)
        return self[key]

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        if len(self) > _MAX_CACHED_CONTEXTS:
            self.popitem(last=False)


def _context_resolver(loader: DocumentLoader, safe: bool, shared: bool) -> ContextResolver:
    if loader is not document_loader or not shared:
        return ContextResolver(_ContextCache(), loader)
    caches: dict[bool, _ContextCache] | None = getattr(_thread_caches, "by_mode", None)
    if caches is None:
        caches = _thread_caches.by_mode = {True: _ContextCache(), False: _ContextCache()}
    return ContextResolver(caches[safe], loader)


def to_quads(
    document: dict[str, Any], *, safe: bool = True, loader: DocumentLoader = document_loader
) -> list[Quad]:
    """The RDF dataset of `document`; in safe mode undefined terms and relative IRIs fail."""
    if loader is document_loader:
        # The compiled pinned contexts give the same quads much faster; anything they do not
        # cover (including every error) is pyld's to answer.
        try:
            return fastrdf.to_quads(document, safe=safe, base=_SENTINEL_BASE if safe else None)
        except fastrdf.Fallback:
            pass
    return _pyld_quads(document, safe=safe, loader=loader)


def _pyld_quads(document: dict[str, Any], *, safe: bool, loader: DocumentLoader) -> list[Quad]:
    """to_quads by pyld alone (also what tests compare the compiled path with)."""
    inline = _has_inline_context(document)
    dropped: list[str | None] = []
    processor = jsonld.JsonLdProcessor(on_property_dropped=dropped.append)
    options = {
        "documentLoader": loader,
        "base": _SENTINEL_BASE if safe else None,
        "contextResolver": _context_resolver(loader, safe, shared=not inline),
    }
    try:
        dataset = processor.to_rdf(document, options)
    except jsonld.JsonLdError as exc:
        raise _translate(exc) from exc
    except RecursionError as exc:
        raise CanonicalizationError("JSON-LD is nested too deeply") from exc
    except (AttributeError, TypeError, KeyError, IndexError, ValueError, ArithmeticError) as exc:
        # pyld 3.3.0 crashes on some inputs ("@type": "@foo" expands to None; an integer
        # of 400 digits overflows its xsd:double conversion)
        raise CanonicalizationError(
            f"JSON-LD processing failed: pyld {type(exc).__name__}", code="jsonld_invalid"
        ) from exc
    if safe and dropped:
        names = ", ".join(sorted({str(name) for name in dropped}))
        raise CanonicalizationError(
            f"undefined terms would be dropped (not signed): {names:.200}",
            code="jsonld_undefined_term",
        )
    quads = quads_from_pyld(dataset)
    if safe:
        _refuse_relative_iris(quads)
    return quads


def canonize(
    document: dict[str, Any], *, safe: bool = True, loader: DocumentLoader = document_loader
) -> str:
    """Canonical N-Quads (RDFC-1.0) of a JSON-LD document."""
    return canonicalize(to_quads(document, safe=safe, loader=loader))


def _has_inline_context(document: object) -> bool:
    """Whether any `@context` in the document is more than URLs. Refuses `@import` anywhere:
    pyld merges the importing context into the cached imported one in place, so one document
    would change how every later one expands."""
    inline = False
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "@import" in node:
                raise CanonicalizationError(
                    "@import in a JSON-LD context is not supported",
                    code="jsonld_import_unsupported",
                )
            context = node.get("@context")
            items = context if isinstance(context, list) else [context]
            inline = inline or ("@context" in node and not all(isinstance(i, str) for i in items))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return inline


def _refuse_relative_iris(quads: list[Quad]) -> None:
    for quad in quads:
        for term in (quad.subject, quad.predicate, quad.object, quad.graph):
            iri = (
                term.value
                if isinstance(term, Iri)
                else term.datatype
                if isinstance(term, Literal)
                else ""
            )
            if iri.startswith(_SENTINEL_BASE):
                relative = iri[len(_SENTINEL_BASE) :]
                raise CanonicalizationError(
                    f"relative IRI {relative!r:.80} is not allowed", code="jsonld_relative_iri"
                )


def _translate(exc: jsonld.JsonLdError) -> BadgeChainError:
    """Find our own error inside pyld's wrapping (the loader's ContextError), or describe pyld's."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, BadgeChainError):
            return cause
        details = getattr(cause, "details", None)
        nested = details.get("cause") if isinstance(details, dict) else None
        cause = nested if isinstance(nested, BaseException) else cause.__cause__
    message = str(getattr(exc, "message", exc)).splitlines()[0][:200]
    return CanonicalizationError(f"JSON-LD processing failed: {message}", code="jsonld_invalid")
