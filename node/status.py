"""The issuer's Bitstring Status Lists (revocation): allocating an entry for each badge,
setting a bit on revoke, and the signed list credential served at GET /status/{list id}.

Storage (Kind.STATUS_LIST):
  current                      the id of the list new badges draw from (ASCII)
  meta/<list id>               {"id", "url", "created"}: a list is bound to the URL it
                               was created under (a new base URL starts a new list)
  alloc/<list id>/<u32 index>  b"": the index is taken (one key each, so batches that
                               land in any order never undo each other's allocation)
  bits/<list id>               the status bits, 16 KiB (absent: all clear)
  signed/<list id>             the signed list credential, served while fresh

A signed list is valid for `NodeSettings.status_list_ttl_s` and is signed again when a
request finds less than `status_list_resign_left_s` of it left, by the node's clock.

Allocation happens under a per-node lock and is written in the badge's own atomic batch;
an index reserved for a batch that then failed is simply never used.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from badgechain.chain.credential import CredentialView
from badgechain.chain.proof import create_proof, sign_credential
from badgechain.chain.statuslist import (
    MIN_LIST_BITS,
    build_list_credential,
    empty_bits,
    entry_index,
    get_bit,
    set_bit,
    status_entry,
)
from badgechain.storage import Kind, Store

from .didweb import issuer_did, method_for
from .errors import StatusListUnknown
from .services import ListAllocation, OpenList, Services

__all__ = [
    "LIST_BITS",
    "PURPOSE",
    "Op",
    "allocate_entry",
    "changed_lists",
    "changing",
    "list_url",
    "load_allocation",
    "revocation_ops",
    "served_list",
]

LIST_BITS: Final = MIN_LIST_BITS
FULL_AT: Final = LIST_BITS // 2  # past this, random picks would collide often: a new list
PURPOSE: Final = "revocation"
CURRENT_KEY: Final = b"current"
_LIST_ID = re.compile(r"[A-Za-z0-9_-]{12}")  # secrets.token_urlsafe(9)

# One write for the caller's atomic batch.
Op = tuple[Kind, bytes, bytes]


def list_url(node: Services, list_id: str) -> str:
    """Where the node serves a list it creates now: its public URL, else its gateway URL."""
    return f"{node.gateway_url}/status/{list_id}"


@contextmanager
def changing(node: Services) -> Iterator[None]:
    """Hold while reading, changing and writing a list, so no two changes interleave."""
    with node.status_lists.lock:
        yield


# --- allocating ----------------------------------------------------------------------------


def allocate_entry(node: Services, now: datetime) -> tuple[dict[str, Any], list[Op]]:
    """A credentialStatus entry at a random unused index, and the writes that take it;
    write them in the same batch as the badge."""
    lists = node.status_lists
    with lists.lock:
        current = lists.current
        if current is None or current.count >= FULL_AT or not _here(node, current):
            current = lists.current = _start_list(node, now)
        index = _random_free(current.taken)
        set_bit(current.taken, index)
        current.count += 1
        taken: list[Op] = [(Kind.STATUS_LIST, _alloc_key(current.list_id, index), b"")]
        return status_entry(current.url, index, PURPOSE), taken


def _here(node: Services, current: OpenList) -> bool:
    """Whether the list is served at this node's URL (a new base URL starts a new list)."""
    return current.url.startswith(list_url(node, ""))


def _random_free(taken: bytearray) -> int:
    while True:  # at most half taken: two tries expected
        index = secrets.randbelow(LIST_BITS)
        if not get_bit(taken, index):
            return index


def load_allocation(store: Store) -> ListAllocation:
    """The list this node allocates in, as storage holds it; the node reads it on start."""
    raw_id = store.get(Kind.STATUS_LIST, CURRENT_KEY)
    meta = None if raw_id is None else _meta(store, raw_id.decode())
    if meta is None:
        return ListAllocation()
    taken = empty_bits(LIST_BITS)
    prefix = b"alloc/" + str(meta["id"]).encode() + b"/"
    for key, _ in store.scan(Kind.STATUS_LIST, prefix):
        set_bit(taken, int.from_bytes(key[len(prefix) :], "big"))
    count = sum(bin(byte).count("1") for byte in taken)
    return ListAllocation(OpenList(meta["id"], meta["url"], taken, count))


def _start_list(node: Services, now: datetime) -> OpenList:
    """Open a new list, stored at once: the badge that needs it may yet fail to be signed,
    and memory must never name a list that storage does not hold (an empty one is harmless)."""
    list_id = secrets.token_urlsafe(9)
    url = list_url(node, list_id)
    meta = {"id": list_id, "url": url, "created": now.astimezone(UTC).isoformat()}
    with node.store.batch() as batch:
        batch.put(Kind.STATUS_LIST, b"meta/" + list_id.encode(), _dump(meta))
        batch.put(Kind.STATUS_LIST, CURRENT_KEY, list_id.encode())
    return OpenList(list_id, url, empty_bits(LIST_BITS), 0)


def _alloc_key(list_id: str, index: int) -> bytes:
    return b"alloc/" + list_id.encode() + b"/" + index.to_bytes(4, "big")


# --- revoking and serving ------------------------------------------------------------------


def revocation_ops(node: Services, credential: dict[str, Any], now: datetime) -> list[Op]:
    """The writes that set the badge's revocation bit and store the re-signed list; empty
    when the badge has no entry in a list of this node. Call inside `changing(node)` and
    write them before letting go."""
    store = node.store
    for entry in _entries(credential):
        list_id = str(entry.get("statusListCredential", "")).rpartition("/")[2]
        meta = _meta(store, list_id) if _LIST_ID.fullmatch(list_id) else None
        if meta is None or meta["url"] != entry.get("statusListCredential"):
            continue
        bits = _bits(store, list_id)
        set_bit(bits, entry_index(entry))
        signed = _sign_list(node, meta, bits, now)
        return [
            (Kind.STATUS_LIST, b"bits/" + list_id.encode(), bytes(bits)),
            (Kind.STATUS_LIST, b"signed/" + list_id.encode(), _dump(signed)),
        ]
    return []


def changed_lists(ops: Iterable[Op]) -> list[str]:
    """The ids of the lists whose bits `ops` (from `revocation_ops`) rewrite."""
    return [key[len(b"bits/") :].decode() for kind, key, _ in ops if key.startswith(b"bits/")]


def served_list(node: Services, list_id: str) -> dict[str, Any]:
    """The signed list credential of `list_id`, re-signed first when it is stale or will be
    soon (StatusListUnknown: a malformed id, an unknown list)."""
    if not _LIST_ID.fullmatch(list_id):
        raise StatusListUnknown(
            "a status list id is 12 URL-safe characters", code="status_list_id_invalid"
        )
    store = node.store
    meta = _meta(store, list_id)
    if meta is None:
        raise StatusListUnknown(f"no status list {list_id!r}")
    now = node.clock()
    raw = store.get(Kind.STATUS_LIST, b"signed/" + list_id.encode())
    signed = None if raw is None else json.loads(raw)
    resign_when_left = timedelta(seconds=node.settings.status_list_resign_left_s)
    if signed is not None and _left(signed, now) > resign_when_left:
        return dict(signed)
    with changing(node):
        signed = _sign_list(node, meta, _bits(store, list_id), now)
        store.put(Kind.STATUS_LIST, b"signed/" + list_id.encode(), _dump(signed))
    return signed


def _left(signed: dict[str, Any], now: datetime) -> timedelta:
    until = datetime.fromisoformat(str(signed.get("validUntil")))
    return until - now


def _sign_list(
    node: Services, meta: dict[str, Any], bits: bytes | bytearray, now: datetime
) -> dict[str, Any]:
    ttl = timedelta(seconds=node.settings.status_list_ttl_s)
    unsigned = build_list_credential(
        issuer_did(node),
        meta["url"],
        bits,
        PURPOSE,
        valid_from=now,
        valid_until=now + ttl,
        ttl_ms=int(ttl.total_seconds() * 1000),
    )
    if node.config.did_web:  # a did:web issuer's lists name its did:web key, as its badges do
        method = method_for(node, unsigned)
        return unsigned | {
            "proof": create_proof(unsigned, node.key, created=now, verification_method=method)
        }
    return sign_credential(unsigned, node.key, created=now)


def _entries(credential: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    return CredentialView(credential).status_entries


def _meta(store: Store, list_id: str) -> dict[str, Any] | None:
    raw = store.get(Kind.STATUS_LIST, b"meta/" + list_id.encode())
    return None if raw is None else dict(json.loads(raw))


def _bits(store: Store, list_id: str) -> bytearray:
    raw = store.get(Kind.STATUS_LIST, b"bits/" + list_id.encode())
    return empty_bits(LIST_BITS) if raw is None else bytearray(raw)


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()
