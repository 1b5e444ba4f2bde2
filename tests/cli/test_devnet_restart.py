"""The devnet a newcomer runs twice (issue 16 items 1, 2 and 4): the commands it prints run in
a fresh shell without the venv activated, a second run keeps the ports (so the locations the
BNS holds still lead to the nodes) and its commands work again, and a node of one's own joins
it with `--bootstrap devnet`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "badgechain.cli"]
# A fresh shell: no venv on PATH, no passphrase in the environment.
FRESH_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


class _Devnet:
    def __init__(self, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [*CLI, "devnet", "--nodes", "3"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=cwd,
            env={**FRESH_ENV, "HOME": str(cwd)},
        )
        self.lines = self._read_until("Ctrl-C stops", 240)
        self.described: dict[str, Any] = json.loads((cwd / "devnet" / "devnet.json").read_text())

    def _read_until(self, marker: str, timeout: float) -> list[str]:
        assert self.process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if marker in line:
                return lines
        pytest.fail(f"devnet printed no {marker!r}: {lines}")

    def tries(self) -> list[str]:
        start = self.lines.index("Try:") + 1
        end = next(i for i, line in enumerate(self.lines) if line.startswith("Join with"))
        return [line.strip() for line in self.lines[start:end]]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            assert self.process.wait(timeout=60) == 0
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()


def _shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env={**FRESH_ENV, "HOME": str(cwd)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _run_all(commands: list[str], cwd: Path) -> dict[str, str]:
    outputs = {}
    for command in commands:
        done = _shell(command, cwd)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, (command, done.stderr)
        outputs[command] = done.stdout
    return outputs


def _gateways(described: dict[str, Any]) -> list[str]:
    return [node["gateway"] for node in described["nodes"]]


def test_a_devnet_run_twice_keeps_its_ports_and_its_printed_commands_work(
    tmp_path: Path,
) -> None:
    devnet = _Devnet(tmp_path)
    try:
        first = devnet.described
        outputs = _run_all(devnet.tries(), tmp_path)
        verify = next(c for c in outputs if "verify --online" in c)
        assert outputs[verify].startswith("verdict: VALID")
    finally:
        devnet.stop()
    again = _Devnet(tmp_path)
    try:
        assert _gateways(again.described) == _gateways(first)
        assert [n["dht"] for n in again.described["nodes"]] == [n["dht"] for n in first["nodes"]]
        outputs = _run_all(again.tries(), tmp_path)
        verify = next(c for c in outputs if "verify --online" in c)
        assert outputs[verify].startswith("verdict: VALID")
        _join_with_bootstrap_devnet(tmp_path)
    finally:
        again.stop()


def _join_with_bootstrap_devnet(cwd: Path) -> None:
    """`init` then `node start --bootstrap devnet` from the devnet's folder: contacts > 0."""
    home = cwd / "mine"
    env = {**os.environ, "BADGECHAIN_PASSPHRASE": "a passphrase for this test"}
    init = [*CLI, "--home", str(home), "init", "--dht-port", "0", "--http-port", "0"]
    subprocess.run(init, cwd=cwd, env=env, check=True, capture_output=True, timeout=120)
    node = subprocess.Popen(
        [*CLI, "--home", str(home), "node", "start", "--bootstrap", "devnet"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert node.stdout is not None
        ready = node.stdout.readline().split()
        assert ready[0] == "ready", ready
        with urllib.request.urlopen(f"{ready[2]}/health", timeout=30) as answer:  # noqa: S310
            assert json.loads(answer.read())["contacts"] > 0
    finally:
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(timeout=60)
        finally:
            if node.poll() is None:
                node.kill()
                node.wait()
            if node.stdout is not None:
                node.stdout.close()
