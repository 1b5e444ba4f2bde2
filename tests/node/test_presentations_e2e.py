"""Presentations and staples end to end: one OS process per node, the `badgechain` CLI and
plain HTTP (issue 14 items 1-2)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.node.test_e2e import NodeProcess, _network, bc, eventually, nodes  # noqa: F401

pytestmark = pytest.mark.slow

DOMAIN = "verifier.example"


def _post(url: str, body: object) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 (a node's loopback URL)
        url,
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            return answer.status, dict(json.loads(answer.read()))
    except urllib.error.HTTPError as error:
        return error.code, dict(json.loads(error.read()))


def test_present_verify_once_then_a_stapled_badge_offline_and_after_its_revocation(
    tmp_path: Path,
    nodes: list[NodeProcess],  # noqa: F811
) -> None:
    issuer, earner, verifier = _network(tmp_path, nodes, ["issuer", "earner", "verifier"])
    class_id = bc(
        issuer.home, "class", "create", "--name", "Presenting",
        "--description", "Shown by its holder", "--criteria", "Passed",
    ).stdout.strip()  # fmt: skip
    uid = bc(issuer.home, "issue", "--class", class_id, "--to", earner.did).stdout.strip()
    eventually(lambda: uid in bc(earner.home, "inbox").stdout, 15, "delivery to the inbox")
    bc(earner.home, "accept", uid)

    status, issued = _post(f"{verifier.gateway}/presentations/challenge", {"domain": DOMAIN})
    assert status == 201, issued
    challenge = issued["challenge"]
    out = tmp_path / "vp.json"
    args = ["present", uid, "--challenge", challenge, "--domain", DOMAIN, "--out", str(out)]
    bc(earner.home, *args)
    presentation = json.loads(out.read_text())
    body = {"verifiablePresentation": presentation, "options": {"challenge": challenge}}
    status, result = _post(f"{verifier.gateway}/presentations/verify", body)
    assert status == 200 and result["verified"], result
    status, replay = _post(f"{verifier.gateway}/presentations/verify", body)
    assert (status, replay["code"]) == (422, "challenge_replayed")

    # Another verifier, offline, with a challenge of its own: the staple answers.
    offline_home = tmp_path / "offline"
    offline_home.mkdir()
    args = ["present", uid, "--challenge", "c-offline", "--domain", DOMAIN, "--out"]
    bc(earner.home, *args, str(tmp_path / "vp2.json"))
    check = ["verify", str(tmp_path / "vp2.json"), "--offline", "--challenge", "c-offline"]
    bc(offline_home, *check, "--domain", DOMAIN, "--json")
    again = bc(offline_home, *check, "--domain", DOMAIN, "--json", expect=1)
    assert "challenge_replayed" in again.stdout

    # A single stapled badge, kept while the badge stood.
    with urllib.request.urlopen(f"{earner.gateway}/badges/{uid}/stapled", timeout=30) as got:  # noqa: S310
        (tmp_path / "stapled.json").write_bytes(got.read())
    stapled = str(tmp_path / "stapled.json")
    report = json.loads(bc(offline_home, "verify", stapled, "--offline", "--json").stdout)
    codes = {c["name"]: c["code"] for c in report["checks"]}
    assert (codes["status"], codes["bns"], report["verdict"]) == ("stapled", "stapled", "valid")

    bc(issuer.home, "revoke", uid, "--reason", "issued in error")
    gateway = ["--gateway", verifier.gateway]
    eventually(
        lambda: bc(offline_home, "verify", stapled, *gateway, expect=None).returncode == 1,
        15,
        "a verifier with the network sees the revocation the staple predates",
    )
    report = json.loads(bc(offline_home, "verify", stapled, *gateway, "--json", expect=1).stdout)
    assert {c["name"]: c["code"] for c in report["checks"]}["revocation"] == "revoked"
