"""Storage: one LevelDB per node, a key space per kind of record, atomic write batches.

`Store` is the interface; `LevelStore` the real database, `MemoryStore` a test double.
"""

from badgechain.storage.errors import StorageError
from badgechain.storage.leveldb import LevelStore
from badgechain.storage.memory import MemoryStore
from badgechain.storage.store import MAX_KEY_BYTES, MAX_VALUE_BYTES, Batch, Kind, Store

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_VALUE_BYTES",
    "Batch",
    "Kind",
    "LevelStore",
    "MemoryStore",
    "StorageError",
    "Store",
]
