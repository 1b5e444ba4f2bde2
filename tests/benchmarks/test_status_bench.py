"""`python -m benchmarks.status`: a tiny run prints every row with a sane ratio."""

from __future__ import annotations

import re
import sys

import pytest

from benchmarks.status import main


def test_a_tiny_run_prints_each_way_as_a_ratio(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["benchmarks.status", "--count", "3"])
    main()
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    ratios = [float(row.rsplit("|", 2)[1]) for row in rows[2:]]
    assert len(ratios) == 4 and ratios[0] == 1
    assert all(ratio > 0 for ratio in ratios)  # a figure, not a timing bound
    assert all(re.search(r"\| [0-9,.]+ \|", row) for row in rows[2:])
