"""`badgechain init --name`, `badgechain config` and the issuer name in offline badges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from badgechain.cli.main import main
from badgechain.node.config import (
    CONFIG_FILE,
    MAX_ISSUER_NAME_CHARS,
    ConfigError,
    load_config,
    save_config,
)

NAME = 'Ada\'s "School" ✓'
PORTS = ("--http-port", "0", "--dht-port", "0")
OFFLINE = ("--name", "N", "--description", "D", "--criteria", "C")


def _run(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), *args])


def test_init_with_a_name_sets_the_issuer_name_and_warns_of_none_without(tmp_path: Path) -> None:
    named = _run(tmp_path / "named", "init", "--no-passphrase", "--name", NAME, "--json", *PORTS)
    assert named.exit_code == 0, named.output
    assert json.loads(named.stdout)["issuer_name"] == NAME
    assert "warning" not in named.stderr
    config = load_config(tmp_path / "named")
    assert (config.issuer_name, config.name) == (NAME, NAME)

    unnamed = _run(tmp_path / "unnamed", "init", "--no-passphrase", *PORTS)
    assert unnamed.exit_code == 0, unnamed.output
    assert unnamed.stdout.startswith("did:key:")
    assert "no issuer name is set" in unnamed.stderr
    assert "badgechain config set issuer.name" in unnamed.stderr
    assert load_config(tmp_path / "unnamed").issuer_name == ""


@pytest.mark.parametrize("name", ["x" * (MAX_ISSUER_NAME_CHARS + 1), "two\nlines"])
def test_init_refuses_a_name_no_badge_could_carry(tmp_path: Path, name: str) -> None:
    result = _run(tmp_path, "init", "--no-passphrase", "--name", name, *PORTS)
    assert result.exit_code == 2
    assert "issuer name" in result.stderr
    assert not (tmp_path / CONFIG_FILE).exists()


def test_config_sets_gets_and_lists_the_issuer_name(tmp_path: Path) -> None:
    assert _run(tmp_path, "init", "--no-passphrase", *PORTS).exit_code == 0
    before = load_config(tmp_path)
    assert _run(tmp_path, "config", "set", "issuer.name", f"  {NAME} ").exit_code == 0
    assert _run(tmp_path, "config", "get", "issuer.name").stdout == NAME + "\n"
    listed = json.loads(_run(tmp_path, "config", "list", "--json").stdout)
    assert listed == {"issuer.name": NAME, "node.name": before.name}
    # Every other setting is kept as it was.
    assert load_config(tmp_path) == before.with_overrides(issuer_name=NAME)
    assert _run(tmp_path, "config", "set", "issuer.name", "").exit_code == 0
    assert load_config(tmp_path).issuer_name == ""


def test_config_refuses_bad_values_keys_and_a_missing_home(tmp_path: Path) -> None:
    assert _run(tmp_path / "none", "config", "get", "issuer.name").exit_code == 1
    assert _run(tmp_path, "init", "--no-passphrase", *PORTS).exit_code == 0
    bad = _run(tmp_path, "config", "set", "issuer.name", "a\tb")
    assert bad.exit_code == 2 and "issuer name" in bad.stderr
    assert _run(tmp_path, "config", "set", "node.port", "1").exit_code == 2
    assert _run(tmp_path, "config", "set", "node.name", " ").exit_code == 2


@pytest.mark.parametrize(
    "table", ["[issuer]\nname = 3\n", "[issuer]\nnick = 'x'\n", "issuer = 'x'\n"]
)
def test_a_bad_issuer_table_is_a_config_error(tmp_path: Path, table: str) -> None:
    (tmp_path / CONFIG_FILE).write_text(table)
    with pytest.raises(ConfigError):
        load_config(tmp_path)


def test_the_config_file_reads_back_as_written(tmp_path: Path) -> None:
    assert _run(tmp_path, "init", "--no-passphrase", "--name", NAME, *PORTS).exit_code == 0
    config = load_config(tmp_path)
    save_config(tmp_path, config)
    assert load_config(tmp_path) == config


def test_an_offline_badge_names_the_homes_issuer(tmp_path: Path) -> None:
    home, keys_only = tmp_path / "home", tmp_path / "keys-only"
    did = _run(home, "init", "--no-passphrase", "--name", NAME, *PORTS).stdout.strip()
    assert _run(keys_only, "keys", "new", "--no-passphrase").exit_code == 0
    for where, expected in ((home, NAME), (keys_only, None)):
        out = where / "badge.json"
        issued = _run(where, "issue", "--offline", "--to", did, *OFFLINE, "--out", str(out))
        assert issued.exit_code == 0, issued.output
        assert json.loads(out.read_text())["issuer"].get("name") == expected
        verified = _run(where, "verify", str(out), "--offline")
        assert verified.stdout.startswith("verdict: VALID"), verified.output
