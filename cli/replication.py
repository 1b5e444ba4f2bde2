"""What `accept`, `move`, `hide`, `show` and `revoke` say of a BNS write fewer replicas took than a
write needs (node/replication.py), and their `--wait SECONDS`.

Such a write is not lost: the node keeps it and pushes it again in the background, so the
command still exits 0 and says so on stderr. A script that must know the write is out asks
`--wait`: the command pushes it again every few seconds and exits 3 (indeterminate) if
it is still short when the time is up.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Final

import click

from .client import AdminClient, NodeError
from .common import EXIT_INDETERMINATE

__all__ = ["MAX_WAIT_S", "WAIT_HELP", "push_again", "report", "settle", "wait_option"]

MAX_WAIT_S: Final = 600.0
POLL_S: Final = 2.0  # how often --wait pushes the write again
WAIT_HELP: Final = (
    "Exit codes: 0 when the node wrote it. A write fewer replicas took than it needs "
    "(`replication.done` false in --json) is retried by the node in the background and "
    'still exits 0, with a line "accepted by N of K replicas" on stderr; with --wait it '
    "is pushed again until enough hold it, exit 3 if they do not in time."
)


def wait_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--wait",
        "wait_s",
        type=click.FloatRange(0, MAX_WAIT_S),
        default=None,
        metavar="SECONDS",
        help="Wait up to SECONDS until enough BNS replicas hold the write (exit 3 if not).",
    )(command)


Push = Callable[[], "dict[str, Any] | None"]


def push_again(client: AdminClient, uid: str) -> Push:
    """The push `settle` repeats: POST /admin/replication, the write's new tally."""

    def push() -> dict[str, Any] | None:
        answer = client.call("POST", "/admin/replication", {"uid": uid})
        replication = answer.get("replication") if isinstance(answer, dict) else None
        return replication if isinstance(replication, dict) else None

    return push


def settle(
    answer: dict[str, Any],
    wait_s: float | None,
    push: Push,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """`answer` with its `replication` pushed again until done, for up to `wait_s`."""
    replication = answer.get("replication")
    if wait_s is None or not isinstance(replication, dict) or replication.get("done"):
        return answer
    deadline = clock() + wait_s
    while not replication.get("done") and clock() < deadline:
        sleep(min(POLL_S, max(0.0, deadline - clock())))
        try:
            replication = push() or replication
        except NodeError as exc:  # no replica answered this time: try again
            if exc.code not in ("unreachable", "dht_unreachable"):
                raise
    return answer | {"replication": replication}


def report(answer: dict[str, Any], wait_s: float | None) -> None:
    """After the command's own line: a write still short says so on stderr, and exits 3
    when the user waited for it."""
    replication = answer.get("replication")
    if not isinstance(replication, dict) or replication.get("done"):
        return
    asked, quorum = replication.get("asked"), replication.get("quorum")
    held = f"accepted by {replication.get('accepted')} of {asked} replicas" if asked else None
    why = f"a write needs {quorum} hosts" if quorum else "the DHT did not answer"
    if wait_s is None:
        line = f"{held or 'no replica yet'}; retrying in the background ({why}; --wait waits)"
    else:
        line = f"{held or 'no replica'} after {wait_s:g} s; the node keeps retrying ({why})"
    click.echo(f"warning: {line}", err=True)
    if wait_s is not None:
        sys.exit(EXIT_INDETERMINATE)
