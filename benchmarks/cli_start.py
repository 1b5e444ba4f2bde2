"""How long the `badgechain` command takes to start, against a bare `python -c pass` in the
same run (issue 13 item 3: `--help` in ≤ 0.3 s, `verify FILE --offline` of one badge in
≤ 0.5 s, on an idle machine).

    .venv/bin/python -m benchmarks.cli_start [--runs 15]

Each case is run as a fresh process, in turn, `--runs` times; the median wall time and the
median CPU time (user + system of the child) are printed, each also as a ratio to the
`python -c pass` baseline (this machine is shared: only ratios measured in one run compare).
The badge is issued once with `issue --offline` into a temporary home first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BADGECHAIN = [sys.executable, "-m", "badgechain.cli"]


def _timed(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `command` (its output discarded)."""
    before = os.times()
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu


def _issue_badge(folder: Path) -> tuple[Path, Path]:
    home = folder / "home"
    subprocess.run(
        [*BADGECHAIN, "--home", str(home), "keys", "new", "--no-passphrase"],
        check=True,
        capture_output=True,
    )
    did = subprocess.run(
        [*BADGECHAIN, "--home", str(home), "keys", "show"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    badge = folder / "badge.png"
    subprocess.run(
        [
            *(*BADGECHAIN, "--home", str(home), "issue", "--offline", "--to", did),
            *("--name", "Bench", "--description", "A badge", "--criteria", "Ran it"),
            *("--out", str(badge)),
        ],
        check=True,
        capture_output=True,
    )
    return home, badge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        home, badge = _issue_badge(Path(tmp))
        cases = {
            "python -c pass (baseline)": [sys.executable, "-c", "pass"],
            "badgechain --help": [*BADGECHAIN, "--help"],
            "badgechain --version": [*BADGECHAIN, "--version"],
            "badgechain verify badge.png --offline": [
                *(*BADGECHAIN, "--home", str(home), "verify", str(badge), "--offline"),
            ],
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(runs):  # interleaved, so a burst of load hits every case alike
            for name, command in cases.items():
                samples[name].append(_timed(command))
    base_wall = statistics.median(wall for wall, _ in samples["python -c pass (baseline)"])
    base_cpu = statistics.median(cpu for _, cpu in samples["python -c pass (baseline)"])
    print(f"{'command':<40} {'wall s':>7} {'x pass':>6} {'cpu s':>7} {'x pass':>6}  ({runs} runs)")
    for name, measured in samples.items():
        wall = statistics.median(w for w, _ in measured)
        cpu = statistics.median(c for _, c in measured)
        print(
            f"{name:<40} {wall:>7.3f} {wall / base_wall:>6.1f} {cpu:>7.3f} "
            f"{cpu / max(base_cpu, 1e-3):>6.1f}"
        )


if __name__ == "__main__":
    main()
