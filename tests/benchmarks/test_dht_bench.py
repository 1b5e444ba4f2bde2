"""`python -m benchmarks.dht` runs end to end on a tiny network and reports sane figures."""

from __future__ import annotations

import pytest

from benchmarks.dht import AFTER_STOP, ALL_UP, SETTINGS, SETTLED, main

# kademlia's after-stop gets wait out its fixed 5 s RPC timeout.
pytestmark = pytest.mark.slow

TINY = ["--sizes", "24", "--entries", "30", "--resolves", "20", "--settle", "0.5"]
BASELINE = ["--baseline-after-stop", "4", "--baseline-group", "4", "--seed", "7"]


def test_tiny_run_resolves_every_entry_and_reports_it(capsys: pytest.CaptureFixture[str]) -> None:
    [report] = main([*TINY, *BASELINE])

    assert report.size == 24
    ours, theirs = report.publishing["BadgeChain"], report.publishing["kademlia"]
    assert (ours.entries, ours.failed) == (30, 0)
    assert ours.rate > 0 and theirs.rate > 0
    assert ours.fewest_replicas is not None and ours.fewest_replicas >= 1
    for label in (ALL_UP, AFTER_STOP, SETTLED):
        phase = report.badgechain[label]
        assert phase.count == 20 and phase.success_rate == 1.0, label
        assert 0 < phase.p50 <= phase.p95 < 10, label
        # A fetch merges the answers of at least read_quorum nodes: each one is a request.
        assert min(phase.rpcs) >= SETTINGS.read_quorum, label
    assert report.kademlia[ALL_UP].count == 20
    assert report.kademlia[AFTER_STOP].count == 4

    printed = capsys.readouterr().out
    assert "| BadgeChain, all up | 20 | 100% |" in printed
    assert "| 24 | 30 |" in printed  # the publishing table
    assert "stopped nodes among live nodes' contacts" in printed


def test_tiny_run_over_two_processes_resolves_in_every_phase(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--sizes", "30", "--processes", "2", "--resolves", "12", "--churn", "1"]) == []

    printed = capsys.readouterr().out
    for label in ("all up", "right after 20% stop", "after churn"):
        assert f"| {label} | 12 | " in printed, label
    assert "publishing: 12 in" in printed and "failed 0" in printed
