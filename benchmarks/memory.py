"""A node's memory while it holds many BNS records (issue 13, item 5).

    .venv/bin/python -m benchmarks.memory [--records 1000000] [--lookups 100000]

RSS is read from /proc/PID/status (VmRSS, split into RssAnon and RssFile: LevelDB's table
files are mapped into the process, and the pages read of them count as resident). The
records are 450 random bytes each (a BNS record with a location is about that size, and its
keys and signatures do not compress) at random 20-byte addresses, written into the node's
LevelDB before it starts. Two measurements:

- the store alone, in a fresh process for each set of LevelDB options (storage/leveldb.py:
  the node's, and plyvel's defaults the node used before): RSS after opening, after
  `--lookups` reads of absent addresses (what most DHT lookups ask a replica), and after
  reading every record once (a republish round or a hand-over does);
- a node (`badgechain node start`) on that store: RSS idle, and after `--requests`
  GET /bns/{uid} of random UIDs (each reads the store, then finds no peer to ask).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from badgechain.chain.multibase import multibase_encode_b58
from badgechain.storage import Kind
from badgechain.storage.leveldb import NODE_OPTIONS, PLYVEL_DEFAULTS, LevelOptions, LevelStore

RECORD_BYTES: Final = 450
BATCH: Final = 10_000
OPTIONS: Final = {"node": NODE_OPTIONS, "plyvel": PLYVEL_DEFAULTS}


def rss_mb(pid: int | str = "self") -> dict[str, float]:
    """VmRSS, RssAnon and RssFile of a process, in MB (10^6 bytes)."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile"):
            figures[name] = int(value.split()[0]) * 1024 / 1e6
    return figures


def fill(path: Path, count: int, seed: int = 1) -> None:
    """`count` records of RECORD_BYTES at random addresses, written BATCH at a time."""
    rng = random.Random(seed)
    store = LevelStore(path)
    try:
        for start in range(0, count, BATCH):
            with store.batch() as batch:
                for _ in range(min(BATCH, count - start)):
                    batch.put(Kind.BNS_RECORD, rng.randbytes(20), rng.randbytes(RECORD_BYTES))
    finally:
        store.close()


def probe(path: Path, options: LevelOptions, lookups: int) -> dict[str, dict[str, float]]:
    """RSS of this process as it opens the store, reads absent keys, and reads every record."""
    before = rss_mb()
    store = LevelStore(path, options)
    figures = {"before opening": before, "opened": rss_mb()}
    rng = random.Random(2)
    for _ in range(lookups):
        store.get(Kind.BNS_RECORD, rng.randbytes(20))
    figures[f"after {lookups:,} reads of absent keys"] = rss_mb()
    count = sum(1 for _ in store.scan(Kind.BNS_RECORD))
    figures[f"after reading all {count:,} records"] = rss_mb()
    store.close()
    return figures


@dataclass(frozen=True, slots=True)
class MemoryReport:
    records: int
    fill_seconds: float
    store: dict[str, dict[str, dict[str, float]]]  # options name -> stage -> figures
    node: dict[str, dict[str, float]]  # stage -> figures


def run_probe(path: Path, options: str, lookups: int) -> dict[str, dict[str, float]]:
    command = [sys.executable, "-m", "benchmarks.memory", "--probe", str(path)]
    command += ["--options", options, "--lookups", str(lookups)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=True)
    figures: dict[str, dict[str, float]] = json.loads(done.stdout.splitlines()[-1])
    return figures


def measure_node(home: Path, requests: int) -> dict[str, dict[str, float]]:
    """A node started on `home` (its store filled): RSS idle and after GET /bns load."""
    from benchmarks.gateway import CLI, Process, run_load

    process = Process([*CLI, "--home", str(home), "node", "start"], home.parent / "node.log")
    try:
        pid = process.popen.pid
        gateway = process.words[1]
        figures = {"started": rss_mb(pid)}
        rng = random.Random(3)
        urls = [f"{gateway}/bns/{multibase_encode_b58(rng.randbytes(64))}" for _ in range(256)]
        run_load(urls, requests, 16)
        figures[f"after {requests:,} GET /bns/{{uid}}"] = rss_mb(pid)
    finally:
        process.stop()
    return figures


def measure(folder: Path, records: int, lookups: int, requests: int) -> MemoryReport:
    from benchmarks.gateway import CLI, ENV

    home = folder / "node"
    init = [*CLI, "--home", str(home), "init", "--dht-port", "0", "--http-port", "0"]
    subprocess.run(init, capture_output=True, text=True, env=ENV, timeout=120, check=True)
    started = time.perf_counter()
    fill(home / "db", records)
    fill_seconds = time.perf_counter() - started
    store = {name: run_probe(home / "db", name, lookups) for name in OPTIONS}
    return MemoryReport(records, fill_seconds, store, measure_node(home, requests))


def print_report(report: MemoryReport) -> None:
    print(f"\n{report.records:,} records written in {report.fill_seconds:.0f} s")
    print("\n| process | stage | RSS MB | anon MB | file-mapped MB |")
    print("| --- | --- | ---: | ---: | ---: |")
    rows = [(f"store alone, {name} options", figures) for name, figures in report.store.items()]
    rows.append(("node (`badgechain node start`)", report.node))
    for label, stages in rows:
        for stage, figures in stages.items():
            print(
                f"| {label} | {stage} | {figures['VmRSS']:.1f} | {figures['RssAnon']:.1f} "
                f"| {figures['RssFile']:.1f} |"
            )
    node_peak = max(figures["VmRSS"] for figures in report.node.values())
    print(f"\nnode RSS, highest: {node_peak:.1f} MB (target 300 MB: {node_peak / 300:.2f} of it)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--options", choices=sorted(OPTIONS), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> MemoryReport | None:
    import tempfile

    args = parse_args(argv)
    if args.probe is not None:
        print(json.dumps(probe(args.probe, OPTIONS[args.options], args.lookups)))
        return None
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as folder:
        report = measure(Path(folder), args.records, args.lookups, args.requests)
    print_report(report)
    return report


if __name__ == "__main__":
    main()
