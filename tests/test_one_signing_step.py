"""Issue 11 item 3: every badge is signed by one step, chain/signing.py `sign()`, which keeps
the signing input for the BNS entry. The node's pipeline and the offline CLI (`issue
--offline`) both call it; nothing else in node/ or cli/ signs a credential by another way."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from badgechain.chain.keys import KeyPair
from badgechain.chain.signing import sign
from badgechain.cli.common import load_key
from badgechain.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
OTHER_SIGNERS = {"sign_credential", "create_proof"}
# What signs something that is not a badge: a status list credential, the verifier
# workers' warm-up credential.
NOT_BADGES = {"node/status.py", "node/verifyworker.py"}


def _names_used(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
    return names


def test_badges_are_signed_only_by_the_one_signing_step() -> None:
    for package in ("node", "cli"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            if relative not in NOT_BADGES:
                assert not _names_used(path) & OTHER_SIGNERS, f"{relative} signs by another way"
    pipeline = _names_used(ROOT / "node" / "pipeline.py")
    offline = _names_used(ROOT / "cli" / "local_commands.py")
    assert "sign" in pipeline and "sign" in offline


def test_an_offline_badge_is_what_the_signing_step_makes(tmp_path: Path) -> None:
    """Ed25519 is deterministic: the badge `issue --offline` wrote, signed again by `sign()`
    at its `created` second, is the same badge, UID and all."""
    home = tmp_path / "home"
    runner = CliRunner()
    assert (
        runner.invoke(main, ["--home", str(home), "keys", "new", "--no-passphrase"]).exit_code == 0
    )
    out = tmp_path / "badge.json"
    earner = KeyPair.generate().did
    args = ["issue", "--offline", "--to", earner, "--name", "N", "--description", "D"]
    result = runner.invoke(
        main, ["--home", str(home), *args, "--criteria", "C", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    badge = json.loads(out.read_text())
    unsigned = {name: value for name, value in badge.items() if name != "proof"}
    created = datetime.strptime(badge["proof"]["created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    again = sign(unsigned, load_key(home), created)
    assert again.credential == badge
    assert json.loads(result.stdout)["uid"] == badge["proof"]["proofValue"]
