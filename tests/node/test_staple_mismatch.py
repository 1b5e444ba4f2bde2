"""A staple for another UID (issue 14's bad input) across real nodes on 127.0.0.1, through
the gateway and the CLI: reported with `staple_uid_mismatch` and ignored, never trusted, so a
verifier cut off from the BNS gives the verdict it would give without one (offline:
indeterminate)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from badgechain.cli.main import main
from tests.node.conftest import NodeNetwork
from tests.node.test_browser import _issued_and_accepted

pytestmark = pytest.mark.slow


def _checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


async def test_a_staple_for_another_uid_is_reported_and_ignored(
    node_network: NodeNetwork, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    issuer, earner = await node_network.start(2)
    first = await _issued_and_accepted(node_network, http, issuer, earner)
    second = await _issued_and_accepted(node_network, http, issuer, earner)
    stapled = {}
    for uid in (first, second):
        async with http.get(f"{earner.gateway_url}/badges/{uid}/stapled") as response:
            assert response.status == 200
            stapled[uid] = await response.json()
    swapped = stapled[first] | {"staple": stapled[second]["staple"]}

    alone = NodeNetwork(tmp_path / "alone")  # a DHT of one: only a staple could answer
    try:
        (verifier,) = await alone.start(1)
        async with http.post(f"{verifier.gateway_url}/verify", json=stapled[first]) as response:
            good = await response.json()
        async with http.post(f"{verifier.gateway_url}/verify", json=swapped) as response:
            bad = await response.json()
        bare = stapled[first]["verifiableCredential"]
        async with http.post(f"{verifier.gateway_url}/verify", json=bare) as response:
            unstapled = await response.json()
    finally:
        await alone.stop()
    assert good["verdict"] == "valid", good
    assert _checks(good)["bns"]["code"] == "stapled", good
    # Ignored: every check as without a staple (the status list, still reachable, decides),
    # the mismatch named where the staple would have answered.
    codes = {name: check["code"] for name, check in _checks(bad).items()}
    assert codes == {name: check["code"] for name, check in _checks(unstapled).items()}, bad
    assert bad["verdict"] == unstapled["verdict"]
    assert "staple_uid_mismatch" in json.dumps(bad["checks"]), bad
    assert "stapled" not in codes.values(), bad

    # The CLI offline: the same verdicts, the mismatch named.
    home = tmp_path / "verifier-home"
    home.mkdir()
    for name, document in (("good", stapled[first]), ("swapped", swapped)):
        (tmp_path / f"{name}.json").write_text(json.dumps(document))
    args = ["--home", str(home), "verify", "--offline", "--json"]
    result = await asyncio.to_thread(CliRunner().invoke, main, [*args, str(tmp_path / "good.json")])
    assert result.exit_code == 0, result.output
    result = await asyncio.to_thread(
        CliRunner().invoke, main, [*args, str(tmp_path / "swapped.json")]
    )
    report = json.loads(result.output)
    assert result.exit_code == 3 and report["verdict"] == "indeterminate", result.output
    assert "staple_uid_mismatch" in json.dumps(_checks(report)), report
