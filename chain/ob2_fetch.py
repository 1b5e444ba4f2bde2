"""The documents one OB 2.0 verification fetches through `Resolvers.documents`: each URL at
most once (an answer, a 404 or an outage is remembered), at most MAX_DOCUMENTS in all, each
at most MAX_DOCUMENT_BYTES. Offline (no fetcher), every fetch is `Unreachable`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .errors import BadgeChainError, InputTooLarge
from .jsonio import parse_json
from .ob2_checks import is_url
from .resolve import DocumentFetcher, Fetched, Unreachable

__all__ = ["MAX_DOCUMENTS", "MAX_DOCUMENT_BYTES", "Documents"]

MAX_DOCUMENTS = 24  # assertion, class, issuer, key, list, endorsements and their issuers
MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_URL_CHARS = 2048

Warn = Callable[[str, str, str], None]  # check name, warning code, message


class Documents:
    def __init__(self, fetcher: DocumentFetcher | None, now: datetime, warn: Warn) -> None:
        self.fetcher, self.now, self.warn = fetcher, now, warn
        self.cache: dict[str, Fetched | BadgeChainError] = {}

    def fetch(self, url: str, what: str) -> Fetched:
        if not is_url(url) or len(url) > MAX_URL_CHARS:
            raise BadgeChainError(f"the {what} is not at an HTTP URL", code="ob2_url_invalid")
        cached = self.cache.get(url)
        if isinstance(cached, BadgeChainError):
            raise cached
        if cached is not None:
            return cached
        try:
            got = self._fetch_uncached(url, what)
        except BadgeChainError as exc:
            self.cache[url] = exc
            raise
        self.cache[url] = got
        return got

    def _fetch_uncached(self, url: str, what: str) -> Fetched:
        if self.fetcher is None:
            raise Unreachable(f"offline: the {what} at {url:.100} was not fetched", code="offline")
        if len(self.cache) >= MAX_DOCUMENTS:
            raise BadgeChainError(
                f"the badge needs more than {MAX_DOCUMENTS} documents",
                code="ob2_too_many_documents",
            )
        got = self.fetcher(url)
        if got is None:  # the server answered that nothing is there
            code = what.replace(" ", "_") + "_not_found"
            raise BadgeChainError(f"no {what} at {url:.100}", code=code)
        if len(got.body) > MAX_DOCUMENT_BYTES:
            raise InputTooLarge(f"the {what} at {url:.100} is over {MAX_DOCUMENT_BYTES} bytes")
        return got

    def fetch_json(self, url: str, what: str) -> dict[str, Any]:
        got = self.fetch(url, what)
        try:
            document = parse_json(got.body, max_bytes=MAX_DOCUMENT_BYTES)
        except (BadgeChainError, ValueError) as exc:  # ValueError: an integer past the limit
            raise BadgeChainError(
                f"the {what} at {url:.100} is not JSON", code="document_invalid"
            ) from exc
        if not isinstance(document, dict):
            raise BadgeChainError(
                f"the {what} at {url:.100} is not an object", code="document_invalid"
            )
        return document

    def node_at(self, ref: object, what: str, warn_on: str) -> dict[str, Any]:
        """An embedded node, or the node fetched at its URL; one that declares another id
        than the URL it came from (1EdTech: a redirect) is read with a warning."""
        if isinstance(ref, dict):
            return ref
        if not isinstance(ref, str) or not is_url(ref):
            raise BadgeChainError(
                f"the {what} is neither embedded nor a URL", code="ob2_structure_invalid"
            )
        document = self.fetch_json(ref, what)
        declared = document.get("id")
        if declared is not None and declared != ref:
            self.warn(
                warn_on, "id_mismatch", f"the {what} at {ref:.80} declares id {declared!s:.80}"
            )
        return document
