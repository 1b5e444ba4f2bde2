"""Errors of the storage layer: one class, told apart by its stable `code`."""

from __future__ import annotations

from typing import Final

from badgechain.chain.errors import BadgeChainError

__all__ = [
    "KEY_INVALID",
    "STORAGE_CLOSED",
    "STORAGE_CORRUPT",
    "STORAGE_ERROR",
    "STORAGE_LOCKED",
    "VALUE_INVALID",
    "VALUE_TOO_LARGE",
    "StorageError",
]

STORAGE_ERROR: Final = "storage_error"  # any other failure of the database below
STORAGE_CLOSED: Final = "storage_closed"  # the store was used after close()
STORAGE_LOCKED: Final = "storage_locked"  # another process (or handle) holds the database
STORAGE_CORRUPT: Final = "storage_corrupt"  # LevelDB reports corruption; run a repair
KEY_INVALID: Final = "key_invalid"  # a key, prefix or scan limit is not usable
VALUE_INVALID: Final = "value_invalid"  # a value is not bytes
VALUE_TOO_LARGE: Final = "value_too_large"  # a value is over MAX_VALUE_BYTES

# Misuse by a caller is a client error; a database that cannot serve is the server's.
_HTTP_STATUS: Final = {
    STORAGE_ERROR: 500,
    STORAGE_CLOSED: 500,
    STORAGE_LOCKED: 503,
    STORAGE_CORRUPT: 500,
    KEY_INVALID: 400,
    VALUE_INVALID: 400,
    VALUE_TOO_LARGE: 413,
}


class StorageError(BadgeChainError):
    """The store refused an operation or could not carry it out; see `code`."""

    code = STORAGE_ERROR
    http_status = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.http_status = _HTTP_STATUS.get(self.code, 500)
