"""Errors of the Badge Name Server. Every error carries a stable `code` and an HTTP status.

BadgeChainError (badgechain.chain.errors)
 └── RecordError   a BNS record is forged, conflicting, stale or over its size budget
"""

from __future__ import annotations

from badgechain.chain.errors import BadgeChainError

__all__ = ["RecordError"]


class RecordError(BadgeChainError):
    """A BNS record or part failed validation; `code` says which check (see bns/record.py)."""

    code = "record_invalid"
    http_status = 422
