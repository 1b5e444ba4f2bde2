"""Collections edited and deleted, each badge with its status (issue 14 item 3), across real
nodes on 127.0.0.1 and through the CLI: a badge its issuer revoked on another node reads
`revoked`, a hidden one `hidden`; an edit keeps the link; a deleted collection's link is
404; neither change reaches the public log."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner, Result

from badgechain.cli.main import main
from badgechain.node.app import RunningNode
from badgechain.node.collections import new_collection_id
from tests.node.conftest import NodeNetwork, eventually

pytestmark = pytest.mark.slow

TIMEOUT = aiohttp.ClientTimeout(total=60)
CLASS = {"name": "Collected", "description": "D", "criteria": "C"}


async def _call(
    network: NodeNetwork, node: RunningNode, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.request(method, node.gateway_url + path, json=body, headers=network.admin) as r,
    ):
        return r.status, await r.json(content_type=None)


async def _held(
    network: NodeNetwork, issuer: RunningNode, earner: RunningNode, n: int
) -> list[str]:
    """`n` badges issued to the earner's node and accepted there."""
    _, klass = await _call(network, issuer, "POST", "/admin/classes", CLASS)
    uids = []
    for _ in range(n):
        body = {"class_id": klass["id"], "to": earner.did}
        status, issued = await _call(network, issuer, "POST", "/admin/issue", body)
        assert status in (200, 201), issued
        uids.append(str(issued["uid"]))

    async def delivered() -> bool:
        _, inbox = await _call(network, earner, "GET", "/admin/inbox")
        return set(uids) <= {item["uid"] for item in inbox["badges"]}

    await eventually(delivered, timeout=20)
    for uid in uids:
        status, answer = await _call(network, earner, "POST", "/admin/accept", {"uid": uid})
        assert status == 200, answer
    return uids


async def _cli(home: Path, *args: str) -> Result:
    """The CLI in a thread: its admin client runs an event loop of its own."""
    return await asyncio.to_thread(CliRunner().invoke, main, ["--home", str(home), *args])


def _statuses(collection: dict[str, Any]) -> dict[str, str]:
    return {badge["uid"]: badge["status"] for badge in collection["badges"]}


async def test_a_collection_is_edited_deleted_and_shows_each_badges_status(
    node_network: NodeNetwork,
) -> None:
    issuer, earner, reader = await node_network.start(3)
    home = node_network.write_cli_home(earner)
    first, second, third = await _held(node_network, issuer, earner, 3)
    body = {"name": "Mine", "uids": [first, second]}
    status, created = await _call(node_network, earner, "POST", "/admin/collections", body)
    assert status == 201, created
    cid = created["id"]

    shown = await _cli(home, "collection", "show", cid, "--json")
    assert shown.exit_code == 0, shown.output
    assert _statuses(json.loads(shown.output)) == {first: "shown", second: "shown"}

    # The issuer revokes one on its node; the earner hides the other.
    revoke = {"uid": first, "reason": "issued in error"}
    status, answer = await _call(node_network, issuer, "POST", "/admin/revoke", revoke)
    assert status == 200, answer
    status, answer = await _call(node_network, earner, "POST", "/admin/hide", {"uid": second})
    assert status == 200, answer

    async def revoked_seen() -> bool:
        _, view = await _call(node_network, earner, "GET", f"/admin/collections/{cid}")
        return _statuses(view)[first] == "revoked"

    await eventually(revoked_seen, timeout=20)
    held = await _cli(home, "badges", "--json")
    assert held.exit_code == 0, held.output
    states = {(b["id"], b["state"], b["source"]) for b in json.loads(held.output)}
    assert {(second, "hidden", "delivered"), (third, "accepted", "delivered")} <= states
    _, view = await _call(node_network, earner, "GET", f"/admin/collections/{cid}")
    assert _statuses(view) == {first: "revoked", second: "hidden"}
    by_uid = {badge["uid"]: badge for badge in view["badges"]}
    assert by_uid[first]["reason"] == "issued in error"
    assert by_uid[first]["revocation"] == "revoked"
    assert by_uid[second]["revocation"] == "not_revoked"
    shown = await _cli(home, "collection", "show", cid)
    assert "revoked" in shown.output and "(issued in error)" in shown.output
    # The public view leaves the hidden badge out.
    _, public = await _call(node_network, reader, "GET", f"/collections/{cid}")
    assert public.get("code") == "collection_not_found"  # another node holds no collection
    _, public = await _call(node_network, earner, "GET", f"/collections/{cid}")
    assert [badge["uid"] for badge in public["badges"]] == [first]

    # Edit through the CLI: a new name, one out, one in; the hidden badge may stay.
    edited = await _cli(
        home, "collection", "edit", cid, "--name", "Best", "--remove", first, "--add", third
    )
    assert edited.exit_code == 0, edited.output
    _, view = await _call(node_network, earner, "GET", f"/admin/collections/{cid}")
    assert view["id"] == cid and view["name"] == "Best" and "updated" in view
    assert _statuses(view) == {second: "hidden", third: "shown"}
    _, public = await _call(node_network, earner, "GET", f"/collections/{cid}")
    assert public["name"] == "Best" and [b["uid"] for b in public["badges"]] == [third]
    listed = await _cli(home, "collection", "list")
    assert f"{cid}  2 badge(s)  Best" in listed.output

    # A revoked badge is not added by an edit.
    refused = await _cli(home, "collection", "edit", cid, "--add", first)
    assert refused.exit_code == 1 and "badge_revoked" in refused.output

    deleted = await _cli(home, "collection", "delete", cid)
    assert deleted.exit_code == 0 and f"deleted collection {cid}" in deleted.output
    status, problem = await _call(node_network, earner, "GET", f"/collections/{cid}")
    assert (status, problem["code"]) == (404, "collection_not_found")
    again = await _cli(home, "collection", "delete", cid)
    assert again.exit_code == 1 and "collection_not_found" in again.output

    # Creating, editing and deleting reached the public log only as sealed entries.
    _, log = await _call(node_network, earner, "GET", "/log?limit=1000")
    assert cid not in json.dumps(log) and "Best" not in json.dumps(log)
    sealed = [e for e in log["entries"] if e.get("action") == "sealed"]
    opened = [json.loads((await _cli(home, "log", "open", str(e["seq"]))).output) for e in sealed]
    changes = [o["details"].get("change") for o in opened if o["action"] == "collection"]
    assert changes == [None, "edit", "delete"], opened


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/admin/collections/short", None, 400, "collection_id_invalid"),
        ("GET", "/admin/collections/" + "A" * 22, None, 404, "collection_not_found"),
        ("DELETE", "/admin/collections/" + "A" * 22, None, 404, "collection_not_found"),
        ("PUT", "/admin/collections/" + "A" * 22, {"name": "x", "uids": ["z1"]}, 404, None),
        ("PUT", "/admin/collections/ID", {"name": "x", "uids": []}, None, None),
        ("PUT", "/admin/collections/ID", {"name": "", "uids": ["UID"]}, None, None),
        ("PUT", "/admin/collections/ID", {"name": "x", "uids": ["UID"], "x": 1}, 400, None),
        ("PUT", "/admin/collections/ID", {"name": "x", "uids": ["z" * 60]}, None, None),
    ],
)
async def test_bad_collection_edits_get_a_code(
    node_network: NodeNetwork,
    method: str,
    path: str,
    body: Any,
    status: int | None,
    code: str | None,
) -> None:
    issuer, earner = await node_network.start(2)
    (uid,) = await _held(node_network, issuer, earner, 1)
    _, created = await _call(
        node_network, earner, "POST", "/admin/collections", {"name": "C", "uids": [uid]}
    )
    path = path.replace("ID", created["id"])
    if isinstance(body, dict):
        body = body | {"uids": [uid if u == "UID" else u for u in body["uids"]]}
    got, problem = await _call(node_network, earner, method, path, body)
    assert 400 <= got < 500 and isinstance(problem.get("code"), str), (got, problem)
    assert status is None or got == status, (got, problem)
    assert code is None or problem["code"] == code, problem
    _, view = await _call(node_network, earner, "GET", f"/admin/collections/{created['id']}")
    assert view["name"] == "C" and [b["uid"] for b in view["badges"]] == [uid]  # unchanged


def test_collection_ids_never_start_with_a_dash() -> None:
    """The CLI takes a collection id as an argument; click reads one led by "-" as an option."""
    drawn = [new_collection_id() for _ in range(2000)]  # a "-" first in 2000: 1 - 1e-14
    assert not [made for made in drawn if made.startswith("-")]
    assert all(len(made) == 22 for made in drawn)
