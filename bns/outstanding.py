"""Requests awaiting an answer, each failing at its deadline: one timer per endpoint.

A timer per request was a tenth of a large simulation's CPU (benchmarks/RESULTS.md,
"bns_sim"). Every request of an endpoint waits the same `rpc_timeout` and the clock never
goes back, so deadlines come in the order requests are sent: a queue in that order, and one
timer armed for its head, fail each request at the very time its own timer would have.
Answered requests leave the queue lazily, when the sweep reaches them.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from typing import Any, Final, Generic, TypeVar

__all__ = ["Outstanding"]

T = TypeVar("T")  # what the caller keeps with each request (bns/node_io.py: the contact)
Address = tuple[str, int]
Outcome = tuple[bool, Any]  # (True, reply) or (False, None)

# Timed-out requests whose late answer is still recognised: those of the last `timeout`
# seconds, at most this many (a node of a large simulation holds few).
_LATE_KEPT: Final = 1024


class Outstanding(Generic[T]):
    """Requests by message id: their futures, the address asked and the caller's tag."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        # msg id -> (its future, the address asked, the caller's tag, its deadline)
        self._waiting: dict[bytes, tuple[asyncio.Future[Outcome], Address, T, float]] = {}
        self._deadlines: deque[tuple[float, bytes]] = deque()  # in order sent, so of deadline
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = 0.0
        # Requests that failed, with their deadlines, newest last: an answer to one proves
        # its contact alive.
        self._late: OrderedDict[bytes, tuple[Address, T, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._waiting)

    def add(
        self, loop: asyncio.AbstractEventLoop, msg_id: bytes, address: Address, tag: T, at: float
    ) -> asyncio.Future[Outcome]:
        """Await an answer from `address` to `msg_id` until `at + timeout` (`at`: now)."""
        future: asyncio.Future[Outcome] = loop.create_future()
        deadline = at + self.timeout
        self._waiting[msg_id] = (future, address, tag, deadline)
        self._deadlines.append((deadline, msg_id))
        if self._timer is None:
            self._arm(loop, deadline)
        return future

    def answer(self, msg_id: bytes, address: Address, reply: Any) -> bool:
        """Resolve the request `msg_id` when `address` is the one asked; False otherwise."""
        waiting = self._waiting.get(msg_id)
        if waiting is None or waiting[1] != address:
            return False
        del self._waiting[msg_id]
        if not waiting[0].done():
            waiting[0].set_result((True, reply))
        return True

    def late(self, msg_id: bytes, address: Address) -> T | None:
        """The tag of a request that timed out and that `address` answers now, once."""
        kept = self._late.get(msg_id)
        if kept is None or kept[0] != address:
            return None
        del self._late[msg_id]
        return kept[1]

    def fail(self, msg_id: bytes) -> None:
        """`msg_id` gets no answer: its caller learns so now."""
        waiting = self._waiting.pop(msg_id, None)
        if waiting is None:
            return
        future, address, tag, deadline = waiting
        if not future.done():
            future.set_result((False, None))
        late = self._late
        late[msg_id] = (address, tag, deadline)
        oldest = deadline - self.timeout
        while len(late) > _LATE_KEPT or next(iter(late.values()))[2] < oldest:
            late.popitem(last=False)  # the entry just added is never older: it stays

    def fail_to(self, address: Address) -> int:
        """Fail every request to `address` (it refused a datagram); return how many."""
        refused = [m for m, waiting in self._waiting.items() if waiting[1] == address]
        for msg_id in refused:
            self.fail(msg_id)
        return len(refused)

    def fail_all(self) -> None:
        """The endpoint stopped: every request fails now, and the timer goes."""
        for msg_id in list(self._waiting):
            self.fail(msg_id)
        self._deadlines.clear()
        self._late.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self._armed_for = deadline
        self._timer = loop.call_at(deadline, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Fail what is due (the loop ran this timer: its deadline is), arm for the next."""
        self._timer = None
        due = max(self._armed_for, loop.time())
        deadlines, waiting = self._deadlines, self._waiting
        while deadlines and deadlines[0][0] <= due:
            self.fail(deadlines.popleft()[1])
        while deadlines and deadlines[0][1] not in waiting:
            deadlines.popleft()  # answered already: no need to wake for it
        if deadlines:
            self._arm(loop, deadlines[0][0])
