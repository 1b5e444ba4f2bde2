"""The command line, through click's CliRunner and as a real subprocess."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from badgechain.cli.main import main

NAME_ARGS = [
    "--name",
    "Intro to P2P",
    "--description",
    "Built a DHT",
    "--criteria",
    "Passed the labs",
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def home(tmp_path: Path, runner: CliRunner) -> Path:
    home = tmp_path / "issuer"
    result = runner.invoke(main, ["--home", str(home), "keys", "new", "--no-passphrase"])
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def earner(tmp_path: Path, runner: CliRunner) -> str:
    result = runner.invoke(
        main, ["--home", str(tmp_path / "earner"), "keys", "new", "--no-passphrase"]
    )
    return result.output.strip()


def _issue_args(home: Path, earner: str, out: Path, *extra: str) -> list[str]:
    return [
        "--home",
        str(home),
        "issue",
        "--offline",
        "--to",
        earner,
        *NAME_ARGS,
        "--out",
        str(out),
        *extra,
    ]


def _issue(runner: CliRunner, home: Path, earner: str, out: Path, *extra: str) -> str:
    result = runner.invoke(main, _issue_args(home, earner, out, *extra))
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_keys_new_writes_a_private_file_and_show_repeats_the_did(
    runner: CliRunner, home: Path
) -> None:
    key_file = home / "key.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    shown = runner.invoke(main, ["--home", str(home), "keys", "show"])
    assert shown.output.strip() == json.loads(key_file.read_text())["did"]
    again = runner.invoke(main, ["--home", str(home), "keys", "new", "--no-passphrase"])
    assert again.exit_code == 2 and "exists" in again.output


def test_keys_are_encrypted_by_default(runner: CliRunner, tmp_path: Path) -> None:
    home = tmp_path / "enc"
    result = runner.invoke(
        main, ["--home", str(home), "keys", "new"], env={"BADGECHAIN_PASSPHRASE": "s3cret"}
    )
    assert result.exit_code == 0, result.output
    assert json.loads((home / "key.json").read_text())["encryption"] != "none"
    no_tty = runner.invoke(
        main, ["--home", str(tmp_path / "x"), "keys", "new"], env={"BADGECHAIN_PASSPHRASE": ""}
    )
    assert no_tty.exit_code == 2 and "passphrase" in no_tty.output


@pytest.mark.parametrize("suffix", [".json", ".png", ".svg"])
def test_issue_then_verify_round_trip(
    runner: CliRunner, home: Path, earner: str, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"badge{suffix}"
    uid = _issue(
        runner,
        home,
        earner,
        out,
        "--email",
        "learner@example.org",
        "--evidence",
        "https://example.org/work",
    )
    result = runner.invoke(main, ["verify", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["verdict"], report["uid"], report["format"]) == ("valid", uid, suffix[1:])
    assert (
        "learner@example.org" not in runner.invoke(main, ["unbake", str(out)]).output
        if suffix != ".json"
        else True
    )


def test_verify_reads_stdin_and_reports_tampering(
    runner: CliRunner, home: Path, earner: str, tmp_path: Path
) -> None:
    out = tmp_path / "badge.json"
    _issue(runner, home, earner, out)
    badge = json.loads(out.read_text())
    assert runner.invoke(main, ["verify", "-"], input=out.read_text()).exit_code == 0
    badge["name"] = "Forged"
    result = runner.invoke(main, ["verify", "-"], input=json.dumps(badge))
    assert result.exit_code == 1
    assert "proof failed [signature_invalid]" in result.output


def test_valid_until_before_now_is_refused_at_issue(
    runner: CliRunner, home: Path, earner: str, tmp_path: Path
) -> None:
    args = _issue_args(home, earner, tmp_path / "old.json", "--valid-until", "2000-01-01")
    result = runner.invoke(main, args)
    assert result.exit_code != 0  # validUntil before validFrom is refused at issue time
    assert "validUntil" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "/no/such/file.json"],
        ["verify"],
        ["issue", "--offline", "--to", "did:key:z6Mk", "--out", "x.json"],
        ["unbake", "/no/such.png"],
        ["node", "start", "--dht-host", "node0"],
        ["node", "start", "--dht-host", "0.0.0.0; rm -rf /"],
    ],
)
def test_usage_errors_exit_2(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "payload",
    [b"", b"{", b"\xff\xfe\x00", b"[" * 100_000, b"\x89PNG\r\n\x1a\n\x00", b"<svg", b"{}"],
)
def test_verify_gives_a_report_for_garbage(
    runner: CliRunner, tmp_path: Path, payload: bytes
) -> None:
    path = tmp_path / "junk"
    path.write_bytes(payload)
    result = runner.invoke(main, ["verify", "--json", str(path)])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["verdict"] == "invalid"
    assert report["checks"][0]["status"] in {"failed", "passed"}


def test_issue_refuses_a_bad_subject(runner: CliRunner, home: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        main,
        [
            "--home",
            str(home),
            "issue",
            "--offline",
            "--to",
            "mailto:x",
            *NAME_ARGS,
            "--out",
            str(tmp_path / "b.json"),
        ],
    )
    assert result.exit_code == 1 and "subject_invalid" in result.output


def test_bake_and_unbake_commands(
    runner: CliRunner, home: Path, earner: str, tmp_path: Path
) -> None:
    badge = tmp_path / "badge.json"
    _issue(runner, home, earner, badge)
    plain = tmp_path / "plain.png"
    plain.write_bytes(__import__("badgechain.chain.images", fromlist=["default_png"]).default_png())
    baked = tmp_path / "baked.png"
    assert runner.invoke(main, ["bake", str(badge), str(plain), "--out", str(baked)]).exit_code == 0
    unbaked = runner.invoke(main, ["unbake", str(baked)])
    assert json.loads(unbaked.output) == json.loads(badge.read_text())


# A bound on one CLI process, not a speed claim: a run takes about half a second, but a cold
# start (bytecode compiled afresh after an edit) on a loaded two-core machine can take far
# longer, and a test that times out on a slow machine says nothing about the CLI.
SUBPROCESS_TIMEOUT_S = 300


def _run_cli(env: dict[str, str], *args: str) -> str:
    """`python -m badgechain.cli ARGS…` as a real process; its stdout. A failure shows the
    exit code and stderr (check=True would hide them behind CalledProcessError)."""
    done = subprocess.run(
        [sys.executable, "-m", "badgechain.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    assert done.returncode == 0, f"{args[0]} exited {done.returncode}: {done.stderr}"
    return done.stdout


def test_real_subprocess_round_trip(tmp_path: Path) -> None:
    env = dict(os.environ, BADGECHAIN_HOME=str(tmp_path / "home"))
    did = _run_cli(env, "keys", "new", "--no-passphrase").strip()
    out = tmp_path / "badge.svg"
    _run_cli(env, "issue", "--offline", "--to", did, *NAME_ARGS, "--out", str(out))
    assert _run_cli(env, "verify", str(out)).startswith("verdict: VALID")
