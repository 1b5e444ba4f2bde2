"""`init` and `node start` as a newcomer meets them (issue 16 items 1, 3 and 6): a taken port
is one line naming it and its flag, `init` steps past taken default ports, a node without DHT
contacts says so and how to fix it, and logs are human lines or JSON as asked."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from badgechain.cli.main import main
from badgechain.cli.node_commands import _free_defaults
from badgechain.node.config import NodeConfig, load_config

CLI = [sys.executable, "-m", "badgechain.cli"]
# Each node start solves its key's id puzzle (~3 s idle); on a loaded machine that takes far
# longer, so the tests that start nodes get generous bounds.
STARTS_NODES = pytest.mark.timeout(400)


def _free(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _init(home: Path, *extra: str) -> None:
    result = CliRunner().invoke(
        main, ["--home", str(home), "init", "--no-passphrase", *extra], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output


@pytest.fixture
def held_ports() -> Iterator[tuple[int, int]]:
    """A UDP and a TCP port on 127.0.0.1 that something else holds."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp.bind(("127.0.0.1", 0))
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    try:
        yield udp.getsockname()[1], tcp.getsockname()[1]
    finally:
        udp.close()
        tcp.close()


@pytest.mark.parametrize(("which", "flag"), [(0, "--dht-port"), (1, "--http-port")])
def test_a_taken_port_is_one_line_naming_the_port_and_the_flag(
    tmp_path: Path, held_ports: tuple[int, int], which: int, flag: str
) -> None:
    ports = [str(_free(socket.SOCK_DGRAM)), str(_free(socket.SOCK_STREAM))]
    ports[which] = str(held_ports[which])
    home = tmp_path / "second"
    _init(home, "--dht-port", ports[0], "--http-port", ports[1])
    done = subprocess.run(
        [*CLI, "--home", str(home), "node", "start"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error [port_in_use]")
    assert f"port {held_ports[which]} " in lines[0] and flag in lines[0]


def test_init_steps_past_taken_default_ports(held_ports: tuple[int, int]) -> None:
    dht, http = held_ports
    config = _free_defaults(NodeConfig(dht_port=dht, http_port=http), True, True)
    assert config.dht_port != dht and config.http_port != http
    kept = _free_defaults(NodeConfig(dht_port=dht, http_port=http), False, False)
    assert (kept.dht_port, kept.http_port) == (dht, http)  # ports asked for are kept


def test_init_writes_the_ports_it_picked(tmp_path: Path, held_ports: tuple[int, int]) -> None:
    dht, http = held_ports
    home = tmp_path / "home"
    _init(home, "--dht-port", str(dht), "--http-port", str(http))
    assert (load_config(home).dht_port, load_config(home).http_port) == (dht, http)


class _Node:
    """A real `node start` process; its stderr lines arrive on a queue."""

    def __init__(self, home: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [*CLI, "--home", str(home), "node", "start", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.process.stdout is not None
        self.ready = self.process.stdout.readline()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line.rstrip("\n"))

    def until(self, text: str, timeout: float = 150) -> list[str]:
        """The stderr lines up to the first that holds `text`."""
        seen = []
        while True:
            line = self.lines.get(timeout=timeout)
            seen.append(line)
            if text in line:
                return seen

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()


@STARTS_NODES
def test_a_node_bootstrapping_from_its_own_port_says_so_in_human_lines(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = _free(socket.SOCK_DGRAM)
    _init(home, "--dht-port", str(port), "--http-port", "0")
    node = _Node(home, "--bootstrap", f"127.0.0.1:{port}", "--log-format", "human")
    try:
        assert node.ready.startswith("ready did:key:")
        lines = node.until("no DHT contacts")
        warning = lines[-1]
        assert "warning: " in warning and "this node's own DHT port" in warning
        assert "--bootstrap" in warning
        assert not any(line.lstrip().startswith("{") for line in lines)
    finally:
        node.stop()


@STARTS_NODES
def test_a_lone_first_node_logs_json_when_asked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _init(home, "--dht-port", "0", "--http-port", "0")
    node = _Node(home, "--log-format", "json")
    try:
        lines = node.until("no DHT contacts")
        records = [json.loads(line) for line in lines]
        assert records[-1]["level"] == "warning"
        assert "without --bootstrap" in records[-1]["message"]
    finally:
        node.stop()


def test_bootstrap_devnet_needs_a_devnet_here(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _init(home, "--dht-port", "0", "--http-port", "0")
    result = CliRunner().invoke(
        main, ["--home", str(home), "node", "start", "--bootstrap", str(tmp_path / "devnet")]
    )
    assert result.exit_code == 2
    assert "run `badgechain devnet`" in result.output or "not IP:PORT" in result.output
    missing = str(tmp_path / "devnet.json")
    result = CliRunner().invoke(
        main, ["--home", str(home), "node", "start", "--bootstrap", missing]
    )
    assert result.exit_code == 2 and "run `badgechain devnet` in this folder first" in result.output


@STARTS_NODES
def test_nodes_say_when_they_find_peers(tmp_path: Path) -> None:
    first_home, second_home = tmp_path / "first", tmp_path / "second"
    for home in (first_home, second_home):
        _init(home, "--dht-port", "0", "--http-port", "0")
    first = _Node(first_home, "--log-format", "human")
    try:
        first.until("no DHT contacts")
        seed = first.ready.split()[3]
        second = _Node(second_home, "--bootstrap", seed, "--log-format", "human")
        try:
            assert not any("no DHT contacts" in line for line in second.until("DHT peers found"))
            first.until("DHT peers found")  # the first node learns of the second
        finally:
            second.stop()
    finally:
        first.stop()
