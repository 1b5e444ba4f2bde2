"""The earner owns its BNS index (issue 14 item 4), across real nodes on 127.0.0.1: a badge
enters /earners/{id}/badges when its earner accepts it, leaves on hide, comes back when shown,
and storing nodes refuse an item any other key signed."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import aiohttp
import pytest

from badgechain.bns.index import EarnerItem, EarnerPage, earner_item_signed_bytes
from badgechain.bns.record import entry_from_badge
from badgechain.bns.values import address_of_key
from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.proof import sign_credential
from badgechain.chain.uid import uid_text
from badgechain.node.app import RunningNode
from badgechain.node.badgestore import credential_uid
from tests.node.conftest import NodeNetwork

TIMEOUT = aiohttp.ClientTimeout(total=30)


def _badge(issuer: RunningNode, earner: RunningNode) -> dict[str, Any]:
    valid_from = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    achievement = build_achievement(
        issuer.did,
        achievement_id=f"urn:uuid:{uuid.uuid4()}",
        name="Indexed",
        description="D",
        criteria="C",
    )
    credential = build_credential(
        issuer_did=issuer.did,
        subject_id=earner.did,
        achievement=achievement,
        valid_from=valid_from,
        credential_id=f"urn:uuid:{uuid.uuid4()}",
    )
    return sign_credential(credential, issuer.key, created=valid_from)


async def _call(
    network: NodeNetwork, node: RunningNode, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.request(method, node.gateway_url + path, json=body, headers=network.admin) as r,
    ):
        return r.status, await r.json(content_type=None)


async def _listed(network: NodeNetwork, reader: RunningNode, earner: RunningNode) -> list[str]:
    status, page = await _call(network, reader, "GET", f"/earners/{earner.did}/badges")
    assert status == 200, page
    return [item["uid"] for item in page["items"]]


@pytest.mark.slow
async def test_accept_hide_and_show_write_the_earners_own_index(network: NodeNetwork) -> None:
    issuer, earner, reader = await network.start(3)
    badge = _badge(issuer, earner)
    entry = entry_from_badge(badge, issuer.key, earner.key.public_key, int(time.time()))
    result = await issuer.names.publish(issuer.key, entry)
    assert result.earner_page is None  # the issuer does not write the earner's index
    status, _ = await _call(network, earner, "POST", "/inbox", badge)
    assert status == 202
    uid = uid_text(credential_uid(badge))
    assert await _listed(network, reader, earner) == []

    status, answer = await _call(network, earner, "POST", "/admin/accept", {"uid": uid})
    assert status == 200, answer
    assert await _listed(network, reader, earner) == [uid]

    status, answer = await _call(network, earner, "POST", "/admin/hide", {"uid": uid})
    assert status == 200, answer
    assert await _listed(network, reader, earner) == []
    page = await earner.names.earner_page(earner.key.public_key, 0)
    assert [item.withdrawn for item in page.items] == [True]  # a signed withdrawal stays

    urls = [f"{earner.gateway_url}/badges/{uid}.json"]
    status, answer = await _call(network, earner, "POST", "/admin/move", {"uid": uid, "urls": urls})
    assert status == 200, answer
    assert await _listed(network, reader, earner) == [uid]


@pytest.fixture
def network(node_network: NodeNetwork) -> NodeNetwork:
    return node_network


@pytest.mark.slow
async def test_storing_nodes_refuse_an_item_the_earner_did_not_sign(network: NodeNetwork) -> None:
    issuer, earner = await network.start(2)
    badge = _badge(issuer, earner)
    entry = entry_from_badge(badge, issuer.key, earner.key.public_key, int(time.time()))
    signed = earner_item_signed_bytes(earner.key.public_key, 0, entry.uid)
    for writer in (issuer, earner):
        forged = EarnerPage(earner.key.public_key, 0, (EarnerItem(entry, writer.key.sign(signed)),))
        if writer is earner:  # the earner's own item is taken
            earner.dht.policy.accept(address_of_key(forged.key), None, forged.to_wire_bytes())
            continue
        with pytest.raises(BadgeChainError) as refused:
            earner.dht.policy.accept(address_of_key(forged.key), None, forged.to_wire_bytes())
        assert refused.value.code == "index_item_forged"
