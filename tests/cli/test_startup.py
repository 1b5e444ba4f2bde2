"""What the command line loads to start (issue 13 item 3, issue 16 item 8): `--help` loads no
command module, no JSON-LD and no HTTP client; offline work never loads the HTTP client.

These are behaviour checks on `sys.modules` in a real process; the start-up times
themselves are measured in benchmarks/cli_start.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from badgechain.chain.verify import MAX_INPUT_BYTES
from badgechain.cli import local_commands
from badgechain.cli.main import COMMANDS, main

# Runs the command line in this process's interpreter, then prints the top-level packages
# and badgechain modules it imported, as JSON on stderr's last line.
_PROBE = """
import json, sys
from badgechain.cli.main import main
try:
    main(sys.argv[1:], prog_name="badgechain")
except SystemExit:
    pass
loaded = sorted({name.split(".")[0] for name in sys.modules} | {
    name for name in sys.modules if name.startswith("badgechain.")})
print(json.dumps(loaded), file=sys.stderr)
"""


def _loaded(*args: str, cwd: Path | None = None) -> tuple[set[str], str]:
    """The modules a real `badgechain ARGS` process imported, and its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1])), done.stdout


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--version"]])
def test_help_loads_no_command_module(args: list[str]) -> None:
    loaded, out = _loaded(*args)
    assert out  # it did print the help or the version
    assert not loaded & {"aiohttp", "pyld", "requests", "nacl", "plyvel", "png"}
    assert not {name for name in loaded if name.startswith(("badgechain.node", "badgechain.chain"))}


@pytest.mark.parametrize("command", ["verify", "issue", "bake", "keys"])
def test_a_commands_help_loads_no_jsonld_and_no_http_client(command: str) -> None:
    loaded, out = _loaded(command, "--help")
    assert f"Usage: badgechain {command}" in out
    assert not loaded & {"aiohttp", "pyld", "requests"}


def test_offline_issue_and_verify_load_no_http_client(tmp_path: Path) -> None:
    home = tmp_path / "home"
    runner = CliRunner()
    did = runner.invoke(main, ["--home", str(home), "keys", "new", "--no-passphrase"]).output
    badge = tmp_path / "badge.png"
    issue = [
        *("--home", str(home), "issue", "--offline", "--to", did.strip()),
        *("--name", "N", "--description", "D", "--criteria", "C", "--out", str(badge)),
    ]
    loaded, uid = _loaded(*issue)
    assert uid.strip() and badge.exists()
    assert "aiohttp" not in loaded
    loaded, report = _loaded("--home", str(home), "verify", str(badge), "--offline")
    assert report.startswith("verdict: VALID")
    assert "aiohttp" not in loaded
    assert not {name for name in loaded if name.startswith("badgechain.node.")} - {
        "badgechain.node.config",  # the home's outbound rules and local contexts
        "badgechain.node.trust",  # the home's trust registry
        "badgechain.node.errors",  # their errors' base class and status table (no HTTP)
    }


def test_every_listed_command_exists_with_the_help_line_it_shows() -> None:
    ctx = click.Context(main)
    for name, (_, line) in COMMANDS.items():
        command = main.get_command(ctx, name)
        assert command is not None, name
        assert command.get_short_help_str(limit=1000) == line, name


def test_the_copied_input_limit_is_chain_verifys() -> None:
    assert local_commands.MAX_INPUT_BYTES == MAX_INPUT_BYTES


def test_version_and_short_help() -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["--version"]).output.startswith("badgechain, version ")
    assert "Usage: badgechain" in runner.invoke(main, ["-h"], prog_name="badgechain").output
    assert "Usage: main issue" in runner.invoke(main, ["issue", "-h"]).output


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script_that_names_the_command(shell: str) -> None:
    result = CliRunner().invoke(main, ["completion", shell])
    assert result.exit_code == 0
    assert "_BADGECHAIN_COMPLETE" in result.output


def test_completion_completes_command_names() -> None:
    """What the installed bash script asks: the words after `badgechain v`."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from badgechain.cli.main import main; main(prog_name='badgechain')",
        ],
        env={
            "_BADGECHAIN_COMPLETE": "bash_complete",
            "COMP_WORDS": "badgechain ver",
            "COMP_CWORD": "1",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "plain,verify" in done.stdout.replace("\n", ",")


SCRIPTED = [
    *(["accept"], ["reject"], ["move"], ["hide"], ["show"], ["issue"], ["inbox"], ["revoke"]),
    *(["class", "create"], ["class", "list"], ["verify"], ["init"], ["keys", "new"]),
    *(["keys", "show"], ["persona", "new"], ["persona", "list"], ["endorse"]),
    *(["collection", "create"], ["collection", "list"], ["queue", "list"], ["queue", "retry"]),
    *(["queue", "drop"], ["log", "verify"]),
]


@pytest.mark.parametrize("path", SCRIPTED, ids=" ".join)
def test_every_command_a_script_calls_takes_json(path: list[str]) -> None:
    command: click.Command | None = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.get_command(click.Context(command), name)
    assert command is not None
    assert "--json" in {opt for param in command.params for opt in param.opts}


def test_init_and_keys_print_json(tmp_path: Path) -> None:
    runner, home = CliRunner(), tmp_path / "home"
    made = runner.invoke(main, ["--home", str(home), "init", "--no-passphrase", "--json"])
    answer = json.loads(made.stdout)
    assert answer["did"].startswith("did:key:z6Mk") and answer["home"] == str(home)
    assert isinstance(answer["dht_port"], int) and isinstance(answer["http_port"], int)
    shown = json.loads(runner.invoke(main, ["--home", str(home), "keys", "show", "--json"]).stdout)
    assert shown == {"did": answer["did"]}
