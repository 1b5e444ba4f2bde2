"""`python -m benchmarks.issue`: a tiny run prints each row with a sane ratio and count."""

from __future__ import annotations

import sys

import pytest

from benchmarks.issue import main


def _rows(out: str) -> list[list[str]]:
    lines = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_a_tiny_in_process_run_prints_rates_ratios_and_canonicalisations(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["benchmarks.issue", "--count", "3", "--skip-devnet"])
    main()
    out = capsys.readouterr().out
    header, baseline, issued = _rows(out)
    assert header[0] == "in-process issue" and baseline[3] == "1" and issued[1] == "3"
    assert float(issued[3]) > 0  # a figure, not a timing bound
    per_badge = float(out.split("canonicalisations per badge:")[1].split()[0])
    assert 1 <= per_badge <= 2


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_tiny_devnet_batch_is_issued_published_and_resolvable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["benchmarks.issue", "--count", "2", "--rows", "12", "--earners", "2"]
    monkeypatch.setattr(sys, "argv", argv)
    main()
    batch = _rows(capsys.readouterr().out)[-1]
    assert batch[:5] == ["one batch", "12", "2", "12", "0"]
    assert batch[-1] == "12"  # every UID resolves at the verifier
