"""What a DHT node keeps in its store across restarts: its id puzzle solution and contacts.

Contacts are msgpack (never pickle), read back defensively: a damaged entry means no
saved contacts, not a node that cannot start.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Final

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type information

from badgechain.storage import Kind, Store

from .puzzle import NONCE_BYTES, solve_id_puzzle, solves_id_puzzle
from .routing import Contact

__all__ = ["id_nonce", "load_contacts", "save_contacts"]

log = logging.getLogger(__name__)

CONTACTS_KEY: Final = b"dht/contacts"
ID_NONCE_KEY: Final = b"dht/id-nonce"


def id_nonce(store: Store, public_key: bytes, difficulty: int) -> bytes:
    """This key's id puzzle solution: solved once, kept in the store, reused."""
    saved = store.get(Kind.JOURNAL, ID_NONCE_KEY)
    if saved is not None and saved[:32] == public_key:
        nonce = saved[32:]
        if solves_id_puzzle(public_key, nonce, difficulty):
            return nonce
    started = time.monotonic()
    nonce = solve_id_puzzle(public_key, difficulty)
    log.info("solved the id puzzle (%d bits) in %.2f s", difficulty, time.monotonic() - started)
    store.put(Kind.JOURNAL, ID_NONCE_KEY, public_key + nonce)
    return nonce


def save_contacts(store: Store, contacts: Iterable[Contact], limit: int) -> None:
    saved = [c.to_wire() for c in contacts][:limit]
    if saved:
        store.put(Kind.JOURNAL, CONTACTS_KEY, msgpack.packb(saved))


def load_contacts(store: Store) -> list[tuple[str, int]]:
    """The addresses saved last run (none when nothing or something unreadable was saved)."""
    raw = store.get(Kind.JOURNAL, CONTACTS_KEY)
    if raw is None:
        return []
    with contextlib.suppress(Exception):
        saved = msgpack.unpackb(raw, raw=False)
        # version 1 saved (key, host, port): only the address is used
        contacts = [Contact.from_wire([*item, bytes(NONCE_BYTES)][:4]) for item in saved]
        return [c.address for c in contacts if c is not None]
    return []
