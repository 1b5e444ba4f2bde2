"""Errors of the Badge Name Server. Every error carries a stable `code` and an HTTP status.

BadgeChainError (badgechain.chain.errors)
 ├── RecordError   a BNS record is forged, conflicting, stale or over its size budget
 └── NotFound      no DHT node holds a record for the UID asked
"""

from __future__ import annotations

from badgechain.chain.errors import BadgeChainError

__all__ = ["NotFound", "RecordError"]


class RecordError(BadgeChainError):
    """A BNS record or part failed validation; `code` says which check (see bns/record.py)."""

    code = "record_invalid"
    http_status = 422


class NotFound(BadgeChainError):
    """The DHT answered, and no node holds a record for the UID asked."""

    code = "bns_not_found"
    http_status = 404
