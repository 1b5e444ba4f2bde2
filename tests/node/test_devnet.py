"""README's main job: `badgechain devnet` starts a network, and the commands it prints work."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from badgechain.storage import LevelStore

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "badgechain.cli"]


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    pytest.fail(f"devnet printed no {marker!r} within {timeout} s: {lines}")


def _run(command: str, cwd: Path) -> str:
    """Run one printed command the way a shell user would (curl done with urllib)."""
    words = shlex.split(command)
    if words[0] == "curl":
        target = cwd / words[2] if words[1] == "-o" else None
        url = words[-1]
        with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 (loopback URL)
            assert answer.status == 200, command
            body: bytes = answer.read()
        if target is not None:
            target.write_bytes(body)
        return body.decode(errors="replace")
    if words[0] == "cat":
        return Path(words[1]).read_text()
    assert Path(words[0]).name == "badgechain", command  # the venv's script, by its path
    done = subprocess.run(
        [*CLI, *words[1:]], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    return done.stdout


def test_devnet_starts_and_every_printed_command_works(tmp_path: Path) -> None:
    directory = tmp_path / "devnet"
    process = subprocess.Popen(
        [*CLI, "devnet", "--nodes", "3", "--dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "BADGECHAIN_PASSPHRASE"},
    )
    try:
        lines = _read_until(process, "Ctrl-C stops", 180)
        end = next(i for i, line in enumerate(lines) if line.startswith("Join with"))
        commands = [line.strip() for line in lines[lines.index("Try:") + 1 : end]]
        assert len(commands) >= 5
        described = json.loads((directory / "devnet.json").read_text())
        nodes = described["nodes"]
        assert [n["name"] for n in nodes] == ["node0", "node1", "node2"]
        assert all(
            n["did"].startswith("did:key:") and n["gateway"].startswith("http://") for n in nodes
        )
        assert len(described["sample_badges"]) >= 1
        outputs = {command: _run(command, tmp_path) for command in commands}
        verify = next(c for c in commands if "verify --online" in c)
        assert "valid" in outputs[verify].lower()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=60) == 0
        finally:
            if process.poll() is None:
                process.kill()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
    # Every node process is gone: each database opens again (a live node holds its lock).
    for node in nodes:
        LevelStore(str(Path(node["home"]) / "db")).close()
