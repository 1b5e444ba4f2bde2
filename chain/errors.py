"""Errors of the pure core. Every error carries a stable `code` and an HTTP status.

BadgeChainError
 ├── DecodeError        bytes or text from outside could not be read (JSON, PNG, multibase)
 ├── InputTooLarge      an input went over one of our size or depth limits
 ├── IdentityError      a key or DID is malformed, or a key file cannot be opened
 ├── ContextError       a JSON-LD context is unknown or not installed (never fetched)
 ├── CanonicalizationError  JSON-LD expansion or RDFC-1.0 failed (safe mode, work limit)
 └── ProofError         a proof cannot be created or checked
"""

from __future__ import annotations

__all__ = [
    "BadgeChainError",
    "CanonicalizationError",
    "ContextError",
    "DecodeError",
    "IdentityError",
    "InputTooLarge",
    "ProofError",
]


class BadgeChainError(Exception):
    """Root of every error BadgeChain raises on purpose."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class DecodeError(BadgeChainError):
    code = "decode_error"


class InputTooLarge(BadgeChainError):
    code = "input_too_large"
    http_status = 413


class IdentityError(BadgeChainError):
    code = "identity_invalid"


class ContextError(BadgeChainError):
    code = "context_unknown"


class CanonicalizationError(BadgeChainError):
    code = "canonicalization_failed"
    http_status = 422


class ProofError(BadgeChainError):
    code = "proof_invalid"
    http_status = 422
