"""Offline JSON-LD contexts: the pinned documents that scripts/install_contexts.py installed.

Nothing is ever fetched: a URL that is not installed is refused (interop NOTES 8).
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

__all__ = ["INSTALL_HINT", "context_urls", "document_loader", "load_context"]

INSTALL_HINT = "run `python scripts/install_contexts.py` to install the pinned contexts"
_INDEX_NAME = "index.json"
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.json")


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


def context_urls() -> frozenset[str]:
    """Every context URL that can be loaded."""
    return frozenset(_installed())


def load_context(url: str) -> dict[str, Any]:
    """The context document at `url`, a fresh copy the caller may change."""
    raw = _installed().get(url) if isinstance(url, str) else None
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
    cache for it.
    """
    return {
        "contextUrl": None,
        "documentUrl": url,
        "document": load_context(url),
        "contentType": "application/ld+json",
        "tag": "static",
    }
