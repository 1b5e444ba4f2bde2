"""How many requests a node has awaiting an answer: at most `max_in_flight`, and the node's
own rounds (republish, liveness, refresh, write retries, hand-over) at most half of them, so
a user's lookup never waits behind a republish burst.

A burst must not overflow the peers' socket buffers either: the kernel drops datagrams
silently there, and the peers look dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Iterator

__all__ = ["InFlight", "background"]

# Set in the node's own rounds; tasks they start inherit it.
_BACKGROUND: contextvars.ContextVar[bool] = contextvars.ContextVar("dht_background", default=False)


@contextlib.contextmanager
def background() -> Iterator[None]:
    """Mark the requests made inside (in this task, and in tasks it starts) as the node's own
    background work: they take at most half the in-flight requests."""
    token = _BACKGROUND.set(True)
    try:
        yield
    finally:
        _BACKGROUND.reset(token)


class InFlight:
    """The slots of requests awaiting an answer."""

    def __init__(self, limit: int) -> None:
        self._all = asyncio.Semaphore(limit)
        self._background = asyncio.Semaphore(max(1, limit // 2))

    def full(self) -> bool:
        """Would a request made here now wait for a slot? (Taking a free one does not
        yield: no time passes then.)"""
        return self._all.locked() or (_BACKGROUND.get() and self._background.locked())

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot while the request waits for its answer."""
        if _BACKGROUND.get():
            async with self._background, self._all:
                yield
        else:
            async with self._all:
                yield
