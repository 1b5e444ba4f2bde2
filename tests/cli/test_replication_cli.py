"""`--wait` of move/hide/show/revoke (cli/replication.py) on a virtual clock: how often the
write is pushed again, when it stops, and what the command then says and exits with."""

from __future__ import annotations

from typing import Any

import click
import pytest
from click.testing import CliRunner

from badgechain.cli.common import EXIT_INDETERMINATE
from badgechain.cli.replication import POLL_S, report, settle

SHORT = {"accepted": 1, "asked": 3, "quorum": 3, "done": False}
DONE = SHORT | {"accepted": 3, "done": True}


class Node:
    """The node's side of --wait on a virtual clock: the tallies its pushes answer in turn,
    the times it was pushed at; the clock moves only when the command sleeps."""

    def __init__(self, *answers: dict[str, Any] | None) -> None:
        self.now = 0.0
        self.answers = list(answers)
        self.pushed_at: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def push(self) -> dict[str, Any] | None:
        self.pushed_at.append(self.now)
        return self.answers.pop(0)

    def settle(self, answer: dict[str, Any], wait_s: float | None) -> dict[str, Any]:
        return settle(answer, wait_s, self.push, clock=self.clock, sleep=self.sleep)


def test_wait_pushes_again_until_done() -> None:
    node = Node(SHORT, None, DONE)
    assert node.settle({"uid": "z", "replication": SHORT}, 30)["replication"] == DONE
    assert node.pushed_at == [POLL_S, 2 * POLL_S, 3 * POLL_S]  # None: the last tally holds


def test_wait_stops_at_its_bound_and_without_it_nothing_is_pushed() -> None:
    node = Node(*[SHORT] * 100)
    assert node.settle({"replication": SHORT}, 5)["replication"] == SHORT
    assert node.now == 5 and len(node.pushed_at) == 3
    idle = Node()
    assert idle.settle({"replication": SHORT}, None) == {"replication": SHORT}
    assert idle.settle({"replication": DONE}, 30) == {"replication": DONE}
    assert idle.pushed_at == []


@pytest.mark.parametrize(
    ("replication", "wait_s", "code", "line"),
    [
        (DONE, None, 0, ""),
        (None, 5.0, 0, ""),  # no write of this node's to report
        (SHORT, None, 0, "accepted by 1 of 3 replicas; retrying in the background"),
        (SHORT, 5.0, EXIT_INDETERMINATE, "accepted by 1 of 3 replicas after 5 s"),
        (SHORT | {"accepted": 0, "asked": 0, "quorum": None}, None, 0, "no replica yet"),
    ],
)
def test_what_a_short_write_says_and_exits_with(
    replication: dict[str, Any] | None, wait_s: float | None, code: int, line: str
) -> None:
    @click.command()
    def command() -> None:
        click.echo("moved z")
        report({"replication": replication}, wait_s)

    result = CliRunner().invoke(command)
    assert (result.exit_code, result.stdout) == (code, "moved z\n")
    assert line in result.stderr and (line != "") == bool(result.stderr)
