"""A move or a revocation fewer BNS replicas took than a write needs: the admin answer's
`replication`, POST /admin/replication, and what `move`/`revoke` (with and without --wait)
say and exit with. Replicas that refuse are real nodes of a stricter network (they ask
32 bits of work of every entry), so a write reaches the issuer's node and no other."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from click.testing import CliRunner, Result

from badgechain.cli.common import EXIT_INDETERMINATE
from badgechain.cli.main import main
from badgechain.node.app import RunningNode
from tests.node.conftest import NodeNetwork, eventually
from tests.node.test_issuer import admin, make_class

STRICT = 32  # bits of work a strict node asks of an entry: it refuses every badge here


async def _cli(network: NodeNetwork, node: RunningNode, *args: str) -> Result:
    """`badgechain --home HOME …` against `node` (in a thread: the CLI runs its own loop)."""
    home = network.write_cli_home(node)
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, main, ["--home", str(home), *args])


async def _accepted_badge(
    network: NodeNetwork, http: aiohttp.ClientSession, issuer: RunningNode, earner: RunningNode
) -> tuple[str, dict[str, Any]]:
    """A badge `issuer` issued and `earner` accepted: its UID and the accept's answer."""
    class_id = await make_class(network, http, issuer)
    body = {"class_id": class_id, "to": earner.did}
    status, answer = await admin(network, http, issuer, "POST", "/admin/issue", body)
    assert status == 201, answer
    uid = str(answer["uid"])

    async def delivered() -> bool:
        return uid in str((await admin(network, http, earner, "GET", "/admin/inbox"))[1])

    await eventually(delivered, 15)
    status, answer = await admin(network, http, earner, "POST", "/admin/accept", {"uid": uid})
    assert status == 200, answer
    return uid, answer


async def _strict_peers(network: NodeNetwork, earner: RunningNode) -> None:
    """Two nodes that refuse every badge record, known to the earner's node."""
    for _ in range(2):
        await network.add(pow_difficulty=STRICT)

    async def known() -> bool:
        return earner.dht.contact_count() >= 3

    await eventually(known, 10)


async def test_a_move_few_replicas_took_is_reported_retried_and_waited_for(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer, earner = await node_network.start(2)
    uid, _ = await _accepted_badge(node_network, http, issuer, earner)
    url = f"{earner.gateway_url}/badges/{uid}.json"
    body = {"uid": uid, "urls": [url + "?all=1"]}
    status, moved = await admin(node_network, http, earner, "POST", "/admin/move", body)
    assert status == 200 and moved["replication"]["done"] is True, moved

    await _strict_peers(node_network, earner)
    body = {"uid": uid, "urls": [url + "?few=1"]}
    status, moved = await admin(node_network, http, earner, "POST", "/admin/move", body)
    assert status == 200, moved
    short = moved["replication"]
    assert short["done"] is False and short["quorum"] == 3, short
    assert short["accepted"] == 1 and short["asked"] >= 3, short  # the issuer's node alone
    status, again = await admin(
        node_network, http, earner, "POST", "/admin/replication", {"uid": uid}
    )
    assert status == 200 and again["replication"]["done"] is False, again

    plain = await _cli(node_network, earner, "move", uid, url + "?cli=1", "--no-check")
    assert plain.exit_code == 0, plain.output
    assert plain.stdout.startswith(f"moved {uid}")
    assert f"accepted by 1 of {short['asked']} replicas; retrying in the background" in (
        plain.stderr
    )
    waited = await _cli(node_network, earner, "move", uid, url, "--no-check", "--wait", "0")
    assert waited.exit_code == EXIT_INDETERMINATE, waited.output
    assert "accepted by 1 of" in waited.stderr

    # Accepting a badge writes its location too, and says the same.
    _, accepted = await _accepted_badge(node_network, http, issuer, earner)
    assert accepted["replication"]["done"] is False, accepted


async def test_a_revocation_few_replicas_took_says_so_and_wait_exits_3(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer, earner = await node_network.start(2)
    uid, _ = await _accepted_badge(node_network, http, issuer, earner)
    await _strict_peers(node_network, issuer)
    revoked = await _cli(node_network, issuer, "revoke", uid, "--reason", "error", "--json")
    assert revoked.exit_code == 0, revoked.output
    assert '"done": false' in revoked.stdout and "accepted by" in revoked.stderr
    waited = await _cli(node_network, issuer, "revoke", uid, "--reason", "error", "--wait", "0")
    assert waited.exit_code == EXIT_INDETERMINATE, waited.output
    assert waited.stdout.startswith(f"revoked {uid}")


async def test_a_write_every_replica_took_needs_no_wait(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer, earner, _ = await node_network.start(3)
    uid, _ = await _accepted_badge(node_network, http, issuer, earner)
    url = f"{earner.gateway_url}/badges/{uid}.json"
    moved = await _cli(node_network, earner, "move", uid, url, "--no-check", "--wait", "30")
    assert (moved.exit_code, moved.stderr) == (0, ""), moved.output
    revoked = await _cli(node_network, issuer, "revoke", uid, "--reason", "r", "--wait", "30")
    assert (revoked.exit_code, revoked.stderr) == (0, ""), revoked.output
