"""Delivered badges written to the inbox in groups: one synced write for the badges that
arrive together, instead of one fsync each (issue 13).

A batch's deliveries reach an earner's node several at once (an issuer's work queue keeps
eight in flight); each synced write blocks the event loop for an fsync (~4.5 ms here), which
capped the node near 200 badges a second. A badge waiting in a group is answered only once
the group's write is durable, and it counts against the inbox limits from the moment it
joins (`room`), so a group never takes the inbox past them. A group is written once no
other delivery is being verified (`arriving`: none will join soon), or `GROUP_WAIT_S` after
it opened. Everything runs on the event loop's thread: joining, counting and writing never
interleave.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from badgechain.chain.uid import Uid
from badgechain.storage import Store

from . import inbox_counts
from .badgestore import credential_uid
from .records import BadgeRecord

__all__ = ["GROUP_WAIT_S", "arriving", "pending", "room", "save"]

# Short against a delivery's own time (verification, HTTP): the longest a badge waits for
# the deliveries being verified to join its write.
GROUP_WAIT_S: Final = 0.005


@dataclass(eq=False)
class _Group:
    """The badges waiting for the next write to one store."""

    store: Store
    written: asyncio.Future[None]
    badges: dict[Uid, tuple[dict[str, Any], BadgeRecord]] = field(default_factory=dict)

    def sums(self, sender: str) -> inbox_counts.InboxRoom:
        sizes = [(state.bytes or 0, state.sender) for _, state in self.badges.values()]
        mine = sum(size for size, by in sizes if by == sender)
        return inbox_counts.InboxRoom(len(sizes), sum(size for size, _ in sizes), mine)


# The open group of each store, by the store's id (a LevelStore takes no weak reference);
# removed when written, so a stopped node leaves nothing behind.
_OPEN: dict[int, _Group] = {}
# How many deliveries to each store are being verified, and may join its group next.
_ARRIVING: dict[int, int] = {}


@contextmanager
def arriving(store: Store) -> Iterator[None]:
    """Around a delivery's verification: its group waits for it, unless it is the last."""
    _ARRIVING[id(store)] = _ARRIVING.get(id(store), 0) + 1
    try:
        yield
    finally:
        left = _ARRIVING.pop(id(store)) - 1
        if left:
            _ARRIVING[id(store)] = left
        group = _open_group(store)
        if group is not None and not left:  # after this delivery joins (or is refused)
            asyncio.get_running_loop().call_soon(_write, group)


def _open_group(store: Store) -> _Group | None:
    group = _OPEN.get(id(store))
    return group if group is not None and group.store is store else None


def pending(store: Store, uid: Uid) -> BadgeRecord | None:
    """The state of a badge waiting in the open group; None when it is not waiting."""
    group = _open_group(store)
    found = None if group is None else group.badges.get(uid)
    return None if found is None else found[1]


def room(store: Store, sender: str) -> inbox_counts.InboxRoom:
    """What the inbox holds, the badges waiting to be written included."""
    stored = inbox_counts.room(store, sender)
    group = _open_group(store)
    if group is None:
        return stored
    waiting = group.sums(sender)
    return inbox_counts.InboxRoom(
        stored.badges + waiting.badges,
        stored.total_bytes + waiting.total_bytes,
        stored.sender_bytes + waiting.sender_bytes,
    )


async def save(store: Store, credential: dict[str, Any], state: BadgeRecord) -> None:
    """Join the open group (opening one if none is), and return once it is written;
    raise what the write raised. A badge waiting already waits for the same write."""
    group = _open_group(store)
    if group is None:
        loop = asyncio.get_running_loop()
        group = _Group(store, loop.create_future())
        group.written.add_done_callback(_retrieved)
        _OPEN[id(store)] = group
        wait = GROUP_WAIT_S if _ARRIVING.get(id(store)) else 0.0
        loop.call_later(wait, _write, group)
    group.badges.setdefault(credential_uid(credential), (credential, state))
    # A request cancelled meanwhile leaves its badge in the group: delivering it is harmless.
    await asyncio.shield(group.written)


def _write(group: _Group) -> None:
    if group.written.done():
        return  # written already: a group may be scheduled twice
    if _OPEN.get(id(group.store)) is group:
        del _OPEN[id(group.store)]
    try:
        inbox_counts.save_many(group.store, list(group.badges.values()))
    except Exception as exc:  # a task root: every waiter gets the error (a 5xx, retried)
        group.written.set_exception(exc)
        return
    group.written.set_result(None)


def _retrieved(written: asyncio.Future[None]) -> None:
    """Mark a failed write's error as seen, should every waiter have gone."""
    if not written.cancelled():
        written.exception()
