"""Offline JSON-LD contexts: the pinned documents that scripts/install_contexts.py installed.

Nothing is ever fetched: a URL that is not installed is refused (interop NOTES 8). An operator
may add local contexts (`add_local_contexts`, read from files by the node or the CLI at start):
they never replace a pinned URL, and pyld does not keep them across calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from .errors import ContextError

__all__ = [
    "INSTALL_HINT",
    "add_local_contexts",
    "context_urls",
    "document_loader",
    "load_context",
    "local_contexts",
    "pinned_context_urls",
]

INSTALL_HINT = "run `python scripts/install_contexts.py` to install the pinned contexts"
_INDEX_NAME = "index.json"
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.json")
# URL → bytes of the operator's local contexts; replaced whole, never changed in place, so
# verification threads read a consistent mapping without a lock.
_local: Mapping[str, bytes] = {}


def _installed_dir() -> Traversable:
    return files(__package__ or "badgechain.chain") / "contexts" / "installed"


@cache
def _installed() -> Mapping[str, bytes]:
    """URL → canonical JSON bytes of every installed context, read once per process."""
    folder = _installed_dir()
    index_file = folder / _INDEX_NAME
    if not index_file.is_file():
        raise ContextError(
            f"JSON-LD contexts are not installed: {INSTALL_HINT}", code="contexts_not_installed"
        )
    try:
        index = json.loads(index_file.read_bytes())
        return {str(url): _context_bytes(folder / _file_name(name)) for url, name in index.items()}
    except (OSError, ValueError, AttributeError) as exc:
        raise ContextError(
            f"the installed JSON-LD contexts are damaged ({exc}): {INSTALL_HINT}",
            code="contexts_not_installed",
        ) from exc


def _file_name(name: object) -> str:
    """A flat file name inside the installed folder; anything else means a damaged index."""
    if not isinstance(name, str) or not _FILE_NAME.fullmatch(name):
        raise ValueError(f"bad file name {name!r:.80} in {_INDEX_NAME}")
    return name


def _context_bytes(path: Traversable) -> bytes:
    """A file's bytes, once they are known to parse as a context (so later loads cannot fail)."""
    raw = path.read_bytes()
    document = json.loads(raw)
    if not isinstance(document, dict) or "@context" not in document:
        raise ValueError(f"{path.name} is not a JSON-LD context")
    return raw


def add_local_contexts(documents: Mapping[str, bytes]) -> None:
    """Trust these context documents too (URL → JSON bytes), e.g. a test suite's contexts.

    A URL of the pinned set keeps its pinned document; a local URL keeps its first document
    (compiled forms are cached by URL); a document that is not a JSON-LD context is refused
    before anything is added.
    """
    global _local
    checked = {}
    for url, raw in documents.items():
        if url in _installed():
            continue
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise ContextError(f"local context {url!r:.200} is not JSON") from exc
        if not isinstance(document, dict) or "@context" not in document:
            raise ContextError(f"local context {url!r:.200} is not a JSON-LD context")
        if _local.get(url, raw) != raw:
            raise ContextError(f"local context {url!r:.200} was already added, differently")
        checked[url] = bytes(raw)
    _local = {**_local, **checked}


def local_contexts() -> Mapping[str, bytes]:
    """The local contexts added so far (URL → JSON bytes); each add makes a new mapping, so
    a caller can tell by identity whether any were added since it last looked."""
    return _local


def context_urls() -> frozenset[str]:
    """Every context URL that can be loaded."""
    return pinned_context_urls() | frozenset(_local)


def pinned_context_urls() -> frozenset[str]:
    """The context URLs installed from their registry packages."""
    return frozenset(_installed())


def _is_pinned(url: object) -> bool:
    return isinstance(url, str) and url in _installed()


def load_context(url: str) -> dict[str, Any]:
    """The context document at `url`, a fresh copy the caller may change."""
    raw = (_installed().get(url) or _local.get(url)) if isinstance(url, str) else None
    if raw is None:
        shown = url if isinstance(url, str) else type(url).__name__
        raise ContextError(
            f"JSON-LD context {shown!r:.200} is not one of the installed contexts "
            "(contexts are never fetched from the network)",
            code="context_unknown",
        )
    document: dict[str, Any] = json.loads(raw)
    return document


def document_loader(url: str, options: object = None) -> dict[str, Any]:
    """A pyld document loader (pyld 3.3.0 `documentLoader(url, options)`) over the installed set.

    pyld wraps what this raises in its own JsonLdError; the ContextError stays reachable
    through the exception's `__cause__` chain. The tag "static" lets pyld keep the resolved
    context across calls (pinned documents never change); chain.jsonld gives each thread its own
    cache for it. Local contexts get no tag, so no call's cache outlives their registration.
    """
    return {
        "contextUrl": None,
        "documentUrl": url,
        "document": load_context(url),
        "contentType": "application/ld+json",
        "tag": "static" if _is_pinned(url) else None,
    }
