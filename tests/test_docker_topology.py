"""docker/ describes the network `badgechain devnet` runs: the same five nodes, roles and
bootstrap edges (cli/devnet.py `topology`), started by commands the CLI really has. No Docker
engine runs here, so the image's entrypoint and health check are also run as plain processes."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type stubs
from click.testing import CliRunner

from badgechain.chain.keystore import key_file_is_encrypted
from badgechain.cli.devnet import DEFAULT_NODES, topology
from badgechain.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
ROLE, BOOTSTRAP = "org.badgechain.role", "org.badgechain.bootstrap"
HOME = "/data"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def _final_stage(dockerfile: str) -> list[str]:
    """The instructions of the last stage, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    lines = [line.strip() for line in joined.splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    last_from = max(i for i, line in enumerate(instructions) if line.startswith("FROM "))
    return instructions[last_from:]


def _instruction(stage: list[str], name: str) -> list[str]:
    return [line[len(name) + 1 :].strip() for line in stage if line.startswith(name + " ")]


def _init_args(service: dict[str, Any]) -> list[str]:
    return shlex.split(service["environment"]["BADGECHAIN_INIT"])


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def _command(*path: str) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)  # commands load lazily
        assert found is not None, name
        command = found
    return command


# -- the same network as the devnet ---------------------------------------------------------


def test_the_devnet_starts_five_nodes_by_default() -> None:
    (count,) = [p for p in _command("devnet").params if p.name == "count"]
    assert count.default == DEFAULT_NODES == 5
    assert len(topology()) == 5


def test_compose_runs_the_devnet_topology(services: dict[str, dict[str, Any]]) -> None:
    plan = topology(5)
    assert list(services) == [node.name for node in plan]
    assert {name: s["labels"][ROLE] for name, s in services.items()} == {
        node.name: node.role for node in plan
    }
    assert {name: s["labels"].get(BOOTSTRAP) for name, s in services.items()} == {
        node.name: node.bootstrap for node in plan
    }
    assert [node.role for node in plan] == ["issuer", "earner", "verifier", "peer", "peer"]


def test_each_node_joins_through_its_labelled_bootstrap(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        command = service["command"]
        assert command[:2] == ["node", "start"] and "--public" in command
        assert _option(command, "--public-url") == f"http://{name}:4880"
        assert _option(_init_args(service), "--name") == name
        parent = service["labels"].get(BOOTSTRAP)
        if parent is None:
            assert "--bootstrap" not in command and "depends_on" not in service
            continue
        host, port = str(_option(command, "--bootstrap")).split(":")
        assert host == parent  # the same DHT port inside every container
        assert port == _option(_init_args(services[parent]), "--dht-port")
        assert service["depends_on"][parent] == {"condition": "service_healthy"}


def test_every_node_has_its_own_volume_and_no_passphrase_in_sight(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    volumes = [service["volumes"] for service in services.values()]
    assert volumes == [[f"{name}:{HOME}"] for name in services]
    assert set(compose["volumes"]) == set(services)
    for service in services.values():
        assert service["secrets"] == ["badgechain_passphrase"]
        assert "BADGECHAIN_PASSPHRASE" not in service["environment"]
        assert service["environment"]["BADGECHAIN_PASSPHRASE_FILE"] == (
            "/run/secrets/badgechain_passphrase"
        )
    assert compose["secrets"]["badgechain_passphrase"] == {"file": "./passphrase.txt"}
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :].count("!docker/passphrase.txt") == 0


def test_only_the_bootstrap_gateway_is_published(services: dict[str, dict[str, Any]]) -> None:
    published = {name: s.get("ports") for name, s in services.items() if s.get("ports")}
    assert published == {"node0": ["127.0.0.1:4880:4880"]}
    assert _option(_init_args(services["node0"]), "--http-port") == "4880"


# -- the commands compose runs exist ----------------------------------------------------------


def test_the_init_options_compose_passes_exist(services: dict[str, dict[str, Any]]) -> None:
    help_text = CliRunner().invoke(main, ["init", "--help"]).output
    for service in services.values():
        args = _init_args(service)
        assert all(arg in help_text for arg in args if arg.startswith("--"))
        parsed = _command("init").make_context("init", args).params
        assert parsed["http_port"] == 4880 and parsed["dht_port"] == 4800
        assert parsed["no_passphrase"] is False  # the key is encrypted


def test_the_start_options_compose_passes_exist(services: dict[str, dict[str, Any]]) -> None:
    help_text = CliRunner().invoke(main, ["node", "start", "--help"]).output
    for name, service in services.items():
        args = service["command"][2:]
        assert all(arg in help_text for arg in args if arg.startswith("--"))
        # The entrypoint hands the node the bootstrap service's address, not its name.
        resolved = [re.sub(r"^node\d+:", "172.20.0.2:", arg) for arg in args]
        parsed = _command("node", "start").make_context("start", resolved).params
        assert parsed["public"] is True and parsed["public_url"] == f"http://{name}:4880"
        assert parsed["fetch_private"] is True  # the compose network is private
        expected = () if name == "node0" else (("172.20.0.2", 4800),)
        assert parsed["bootstrap"] == expected


# -- the image ------------------------------------------------------------------------------


def test_the_dockerfile_builds_a_non_root_python_311_node() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    stage = _final_stage(dockerfile)
    assert stage[0].startswith("FROM python:3.11")
    (user,) = _instruction(stage, "USER")
    assert user not in ("root", "0") and not user.startswith("0:")
    (health,) = _instruction(stage, "HEALTHCHECK")
    assert "/health" in health and "CMD" in health
    assert _instruction(stage, "VOLUME") == [f'["{HOME}"]']
    assert set(" ".join(_instruction(stage, "EXPOSE")).split()) == {"4880/tcp", "4800/udp"}
    assert "BADGECHAIN_HOME=/data" in " ".join(_instruction(stage, "ENV"))
    for line in _instruction(dockerfile.splitlines(), "COPY"):
        if not line.startswith("--from"):  # files from the build context exist
            for source in line.split()[:-1]:
                assert (ROOT / source).exists(), source


def test_the_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for line in _instruction((DOCKER / "Dockerfile").read_text().splitlines(), "COPY"):
        if not line.startswith("--from"):
            for source in line.split()[:-1]:
                path = source.rstrip("/")
                assert any(path == a or path.startswith(a + "/") for a in allowed), source


def test_the_entrypoint_is_valid_shell() -> None:
    entrypoint = DOCKER / "entrypoint.sh"
    assert os.access(entrypoint, os.X_OK)
    subprocess.run(["sh", "-n", str(entrypoint)], check=True, timeout=10)


# -- the entrypoint and health check, run without Docker ----------------------------------------


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Container:
    """The entrypoint run as a process, on loopback, the way compose would run it."""

    def __init__(self, root: Path, name: str, secret: Path) -> None:
        self.home = root / name
        self.http_port = _free_port(socket.SOCK_STREAM)
        self.dht_port = _free_port(socket.SOCK_DGRAM)
        tools = str(Path(sys.executable).parent)  # `badgechain` and `python`
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BADGECHAIN_")} | {
            "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
            "BADGECHAIN_HOME": str(self.home),
            "BADGECHAIN_DHT_HOST": "127.0.0.1",  # tests stay on loopback
            "BADGECHAIN_HTTP_PORT": str(self.http_port),
            "BADGECHAIN_PASSPHRASE_FILE": str(secret),
            "BADGECHAIN_INIT": f"--name {name} --http-port {self.http_port} "
            f"--dht-port {self.dht_port}",
        }
        self.process: subprocess.Popen[str] | None = None

    def start(self, *options: str) -> str:
        """Start the node; the `ready` line it prints."""
        url = f"http://127.0.0.1:{self.http_port}"
        self.process = subprocess.Popen(
            [str(DOCKER / "entrypoint.sh"), "node", "start", "--public-url", url, *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=self.env,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line.startswith("ready "):
                return line
            if not line:
                break
        pytest.fail(f"{self.home.name} printed no ready line")

    def health(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.http_port}/health"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return dict(json.load(answer))

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def containers(tmp_path: Path) -> Iterator[list[_Container]]:
    secret = tmp_path / "passphrase.txt"
    secret.write_text("a compose secret\n")
    started = [_Container(tmp_path, f"node{i}", secret) for i in range(2)]
    try:
        yield started
    finally:
        for container in started:
            container.stop()


def _healthcheck(container: _Container) -> int:
    stage = _final_stage((DOCKER / "Dockerfile").read_text())
    (health,) = _instruction(stage, "HEALTHCHECK")
    command = json.loads(health[health.index("CMD") + 3 :])
    done = subprocess.run(
        [sys.executable, *command[1:]], env=container.env, capture_output=True, timeout=30
    )
    return done.returncode


@pytest.mark.slow
def test_the_entrypoint_inits_a_home_and_joins_a_named_bootstrap(
    containers: list[_Container],
) -> None:
    bootstrap, joiner = containers
    bootstrap.start()
    # As compose names node0 by its service name, the joiner names it by a host name.
    ready = joiner.start("--bootstrap", f"localhost:{bootstrap.dht_port}")
    assert ready.split()[3] == f"127.0.0.1:{joiner.dht_port}"
    assert joiner.health()["contacts"] >= 1 and bootstrap.health()["contacts"] >= 1
    for container in containers:
        assert key_file_is_encrypted((container.home / "key.json").read_bytes())
    assert _healthcheck(joiner) == 0
    joiner.stop()
    assert _healthcheck(joiner) != 0
