"""A clock for a node's `Services.clock` that moves only when a test says so."""

from __future__ import annotations

from datetime import datetime, timedelta


class FakeClock:
    """Time that moves only when told; starts ten days ahead, so the node's own background
    work (on the real clock) never finds what a test queues on this one due."""

    def __init__(self) -> None:
        self.now = datetime.now().astimezone() + timedelta(days=10)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
