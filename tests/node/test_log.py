"""The node's log: appends inside batches, restarts, GET /log pages and the Atom feed."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from badgechain.chain.keys import KeyPair
from badgechain.chain.nodelog import (
    LOG_ENTRY_INVALID,
    LogError,
    canonical_bytes,
    entry_hash,
    make_entry,
    make_head,
    verify_log,
)
from badgechain.node.app import RunningNode
from badgechain.node.log_routes import ATOM_NS, FEED_ENTRIES
from badgechain.node.nodelog import (
    HEAD_KEY,
    LOG_OPENING_MISSING,
    LOG_STORAGE_DAMAGED,
    OPENING_PREFIX,
    NodeLog,
    entry_key,
    public_entry,
)
from badgechain.storage import Kind, MemoryStore
from tests.node.conftest import NodeNetwork
from tests.node.test_issuer import make_class
from tests.node.test_personas import admin, arrives, call

KEY = KeyPair.from_seed(bytes(range(32)))
UID = "z" + "4" * 86
ATOM = f"{{{ATOM_NS}}}"


def fixed_clock() -> datetime:
    return datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def memory_log() -> NodeLog:
    return NodeLog(MemoryStore(), KEY, fixed_clock)


def test_several_appends_in_one_batch_chain_and_commit_together() -> None:
    log = memory_log()
    with log.store.batch() as batch:
        first = log.append(batch, "issue", UID, {"n": 1})
        second = log.append(batch, "revoke", UID)
        assert log.head() is None  # nothing lands before the batch commits
    assert (first["seq"], second["seq"]) == (0, 1)
    assert second["prev"] == entry_hash(first)
    assert log.head()["seq"] == 1 and log.head()["hash"] == entry_hash(second)
    assert verify_log(log.read_all(), signer_did=KEY.did, head=log.head()).ok


def test_a_failed_batch_leaves_no_trace() -> None:
    log = memory_log()
    with log.store.batch() as batch:
        log.append(batch, "issue", UID)

    def failing_work() -> None:
        with log.store.batch() as batch:
            log.append(batch, "issue", UID, {"lost": True})
            log.append(batch, "issue", UID, {"lost": True})
            raise RuntimeError("the caller's work failed")

    with pytest.raises(RuntimeError):
        failing_work()
    with log.store.batch() as batch:
        after = log.append(batch, "move", UID)
    assert after["seq"] == 1
    entries = log.read_all()
    assert [e["action"] for e in entries] == ["issue", "move"]
    assert verify_log(entries, signer_did=KEY.did, head=log.head()).ok


def test_a_bad_append_raises_before_anything_is_written() -> None:
    log = memory_log()
    with pytest.raises(LogError), log.store.batch() as batch:
        log.append(batch, "teleport", UID)
    assert log.head() is None and log.read_all() == []


def test_a_head_without_its_entry_stops_appends() -> None:
    log = memory_log()
    with log.store.batch() as batch:
        log.append(batch, "issue", UID)
        log.append(batch, "issue", UID)
    log.store.delete(Kind.LOG, entry_key(1))
    with pytest.raises(LogError) as raised, log.store.batch() as batch:
        log.append(batch, "issue", UID)
    assert raised.value.code == LOG_STORAGE_DAMAGED


def test_pages_and_recent_entries() -> None:
    log = memory_log()
    for _ in range(3):
        with log.store.batch() as batch:
            for _ in range(5):
                log.append(batch, "issue", UID)
    first = log.page(None, 6)
    assert [e["seq"] for e in first.entries] == [0, 1, 2, 3, 4, 5] and first.next == 5
    last = log.page(11, 6)
    assert [e["seq"] for e in last.entries] == [12, 13, 14] and last.next is None
    assert [e["seq"] for e in log.recent(4)] == [14, 13, 12, 11]
    log.store.put(Kind.LOG, entry_key(13), b"not json")
    assert log.page(12, 1).entries == [None]  # served as it is, for the verifier to name
    verdict = verify_log(log.read_all(), signer_did=KEY.did, head=log.head())
    assert (verdict.bad_seq, verdict.code) == (13, LOG_ENTRY_INVALID)
    assert log.store.get(Kind.LOG, HEAD_KEY) is not None


def test_a_log_from_before_sealing_still_verifies_and_is_served_redacted() -> None:
    """Entries written unsealed by an older node stay valid; the public sees their hash
    only, new private actions are sealed, and the owner can open both."""
    log = memory_log()
    legacy = make_entry(KEY, None, "collection", "secret-link", {"name": "Mine"}, fixed_clock())
    log.store.put(Kind.LOG, entry_key(0), canonical_bytes(legacy))
    log.store.put(Kind.LOG, HEAD_KEY, canonical_bytes(make_head(KEY, legacy)))
    with log.store.batch() as batch:
        log.append(batch, "issue", UID)
        sealed = log.append(batch, "persona", UID, {"name": "Night Owl"})
    assert sealed["action"] == "sealed" and sealed["details"] == {}
    assert verify_log(log.read_all(), signer_did=KEY.did, head=log.head()).ok
    public = log.public_page(None, 10)
    assert public.entries[0] == {"seq": 0, "redacted": entry_hash(legacy)}
    assert verify_log(public.entries, signer_did=KEY.did, head=public.head).ok
    served = json.dumps(public.to_json())
    assert "secret-link" not in served and "Night Owl" not in served
    damaged = {"seq": "0", "action": "collection", "subject": "secret-link"}
    assert public_entry(damaged) is None  # too damaged to hash: named, never shown
    assert public_entry({"seq": 0, "action": ["hide"]}) == {"seq": 0, "action": ["hide"]}
    assert log.opening(0)["sealed"] is False and log.opening(0)["subject"] == "secret-link"
    opened = log.opening(2)
    assert opened["sealed"] is True
    assert (opened["action"], opened["details"]) == ("persona", {"name": "Night Owl"})
    with pytest.raises(LogError) as raised:
        log.opening(3)
    assert raised.value.code == "log_entry_not_found"
    log.store.delete(Kind.LOG, OPENING_PREFIX + (2).to_bytes(8, "big"))
    with pytest.raises(LogError) as raised:
        log.opening(2)
    assert raised.value.code == LOG_OPENING_MISSING


# -- a running node ----------------------------------------------------------------------


def append_batches(node: RunningNode, batches: int, per_batch: int) -> None:
    log = node.log
    for number in range(batches):
        with node.store.batch() as batch:
            for index in range(per_batch):
                log.append(batch, "issue", UID, {"batch": number, "index": index})


def parse_feed(body: bytes) -> ET.Element:
    return ET.fromstring(body)  # noqa: S314 (our own node's feed, in a test)


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as response:
        return response.status, await response.json(content_type=None)


async def test_the_chain_continues_across_a_restart(node_network: NodeNetwork) -> None:
    (node,) = await node_network.start(1)
    append_batches(node, 3, 4)
    node = await node_network.restart(node)
    append_batches(node, 2, 3)
    log = node.log
    entries = log.read_all()
    assert [e["seq"] for e in entries] == list(range(18))
    verdict = verify_log(entries, signer_did=node.did, head=log.head())
    assert verdict.ok and verdict.head_seq == 17


async def test_get_log_pages_cover_every_entry_once(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    (node,) = await node_network.start(1)
    status, empty = await get_json(http, f"{node.gateway_url}/log")
    assert status == 200 and empty == {"entries": [], "head": None, "next": None}
    append_batches(node, 5, 5)
    seen: list[dict[str, Any]] = []
    query = "limit=7"
    for _ in range(10):
        status, page = await get_json(http, f"{node.gateway_url}/log?{query}")
        assert status == 200 and page["head"]["seq"] == 24
        seen += page["entries"]
        if page["next"] is None:
            break
        query = f"limit=7&after={page['next']}"
    assert [e["seq"] for e in seen] == list(range(25))
    assert verify_log(seen, signer_did=node.did, head=page["head"]).ok
    _, default = await get_json(http, f"{node.gateway_url}/log?after=20")
    assert [e["seq"] for e in default["entries"]] == [21, 22, 23, 24]


@pytest.mark.parametrize(
    "query", ["after=-1", "after=x", "limit=0", "limit=1001", "after=1e3", "after=%C2%B2"]
)
async def test_bad_log_queries_are_problems(
    node_network: NodeNetwork, http: aiohttp.ClientSession, query: str
) -> None:
    (node,) = await node_network.start(1)
    async with http.get(f"{node.gateway_url}/log?{query}") as response:
        assert response.status == 400
        assert response.content_type == "application/problem+json"
        assert (await response.json(content_type=None))["code"] == "query_invalid"


async def test_the_atom_feed_lists_the_latest_entries(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    (node,) = await node_network.start(1)
    append_batches(node, 13, 5)
    async with http.get(f"{node.gateway_url}/feed.atom") as response:
        assert response.status == 200
        assert response.content_type == "application/atom+xml"
        feed = parse_feed(await response.read())
    assert feed.tag == f"{ATOM}feed"
    items = feed.findall(f"{ATOM}entry")
    assert len(items) == FEED_ENTRIES
    ids = [item.findtext(f"{ATOM}id") for item in items]
    assert ids == [f"urn:badgechain:log:{node.did}:{seq}" for seq in range(64, 14, -1)]
    assert feed.findtext(f"{ATOM}updated") == items[0].findtext(f"{ATOM}updated")
    first_link = items[0].find(f"{ATOM}link")
    assert first_link is not None
    assert first_link.get("href") == f"{node.gateway_url}/badges/{UID}.json"
    assert items[0].findtext(f"{ATOM}title") == f"issued badge {UID}"

    small = await node_network.add()
    with small.store.batch() as batch:
        small.log.append(batch, "revoke", UID, {"reason": "<script>&"})
        small.log.append(batch, "status-list", "list-1", {})
    async with http.get(f"{small.gateway_url}/feed.atom") as response:
        feed = parse_feed(await response.read())
    newest, oldest = feed.findall(f"{ATOM}entry")
    assert newest.findtext(f"{ATOM}title") == "updated status list list-1"
    link = newest.find(f"{ATOM}link")
    assert link is not None and link.get("href") == f"{small.gateway_url}/status/list-1"
    assert oldest.findtext(f"{ATOM}title") == f"revoked badge {UID}"
    assert "<script>&" in (oldest.findtext(f"{ATOM}content") or "")


# --- every action of a node lands in its log ------------------------------------------------


async def test_every_action_is_logged_and_each_nodes_log_verifies(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    """Issue, accept, move, hide, persona, endorse, reject, collection, revoke and the
    status-list update each leave one entry, in order, on the node that did them. The
    private ones (persona, hide, reject, collection) are sealed: the public log and feed
    show a commitment only, and the owner opens each one at /admin/log/open."""
    issuer, earner, endorser = await node_network.start(3)
    persona_name = "Secret Night Owl"
    persona = await admin(
        node_network, http, earner, "POST", "/admin/personas", {"name": persona_name}
    )
    class_id = await make_class(node_network, http, issuer)

    async def issue_accepted(to: str) -> str:
        body = {"class_id": class_id, "to": to}
        uid = str((await admin(node_network, http, issuer, "POST", "/admin/issue", body))["uid"])
        await arrives(node_network, http, earner, uid)
        await admin(node_network, http, earner, "POST", "/admin/accept", {"uid": uid})
        return uid

    first = await issue_accepted(earner.did)
    elsewhere = {"uid": first, "urls": ["https://badges.example/1.json"]}
    await admin(node_network, http, earner, "POST", "/admin/move", elsewhere)
    await admin(node_network, http, earner, "POST", "/admin/hide", {"uid": first})
    second = await issue_accepted(persona["urn"])
    endorsed = await admin(node_network, http, endorser, "POST", "/admin/endorse", {"uid": second})
    await arrives(node_network, http, earner, endorsed["uid"])
    await admin(node_network, http, earner, "POST", "/admin/reject", {"uid": endorsed["uid"]})
    collection = {"name": "Mine", "uids": [second]}
    made = await admin(node_network, http, earner, "POST", "/admin/collections", collection)
    await admin(node_network, http, issuer, "POST", "/admin/revoke", {"uid": first, "reason": "r"})

    expected = {
        issuer: [("issue", first), ("issue", second), ("revoke", first), ("status-list", None)],
        earner: [
            ("persona", persona["uid"]),
            ("accept", first),
            ("move", first),
            ("hide", first),
            ("accept", second),
            ("reject", endorsed["uid"]),
            ("collection", None),
        ],
        endorser: [("endorse", endorsed["uid"])],
    }
    for node, actions in expected.items():
        status, page = await get_json(http, f"{node.gateway_url}/log?limit=1000")
        assert status == 200
        verdict = verify_log(page["entries"], signer_did=node.did, head=page["head"])
        assert verdict.ok, verdict.to_json()
        logged = [await opened(node_network, http, node, entry) for entry in page["entries"]]
        assert [action for action, _ in logged] == [action for action, _ in actions]
        for (_, subject), (_, wanted) in zip(logged, actions, strict=True):
            assert wanted is None or subject == wanted
    newest = await admin(node_network, http, earner, "GET", "/admin/log/open")
    assert (newest["action"], newest["subject"]) == ("collection", made["id"])
    status, _ = await call(http, earner, "GET", "/admin/log/open", None, None)
    assert status == 401  # the owner's only
    _, public = await get_json(http, f"{earner.gateway_url}/log?limit=1000")
    assert [entry["action"] for entry in public["entries"]] == [
        "sealed",
        "accept",
        "move",
        "sealed",
        "accept",
        "sealed",
        "sealed",
    ]
    async with http.get(f"{earner.gateway_url}/feed.atom") as response:
        feed = await response.text()
    async with http.get(f"{earner.gateway_url}/log?limit=1000") as response:
        body = await response.text()
    for text in (body, feed):
        for secret in (made["id"], persona_name, '"hide"', '"reject"', "hid badge", "rejected"):
            assert secret not in text
        assert endorsed["uid"] not in text  # the rejected badge is named nowhere
    assert page_details(await get_json(http, f"{issuer.gateway_url}/log"), "revoke") == {
        "reason": "r"
    }


async def opened(
    network: NodeNetwork, http: aiohttp.ClientSession, node: RunningNode, entry: Any
) -> tuple[str, str]:
    """(action, subject) of a public entry; a sealed one as its owner opens it."""
    if entry["action"] != "sealed":
        return entry["action"], entry["subject"]
    answer = await admin(network, http, node, "GET", f"/admin/log/open?seq={entry['seq']}")
    assert answer["sealed"] is True and len(answer["salt"]) == 64
    return answer["action"], answer["subject"]


def page_details(answer: tuple[int, Any], action: str) -> Any:
    _, page = answer
    return next(entry["details"] for entry in page["entries"] if entry["action"] == action)


async def test_concurrent_actions_keep_one_unbroken_log(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    """Twenty issues and five revocations at once: the log stays one chain (an `await`
    inside an appending batch would fork it)."""
    node, _ = await node_network.start(2)
    class_id = await make_class(node_network, http, node)

    async def issue() -> str:
        body = {"class_id": class_id, "to": KeyPair.generate().did}
        return str((await admin(node_network, http, node, "POST", "/admin/issue", body))["uid"])

    uids = await asyncio.gather(*(issue() for _ in range(20)))
    await asyncio.gather(
        *(
            admin(node_network, http, node, "POST", "/admin/revoke", {"uid": uid, "reason": "r"})
            for uid in uids[:5]
        ),
        *(issue() for _ in range(5)),
    )
    status, page = await get_json(http, f"{node.gateway_url}/log?limit=1000")
    assert status == 200
    assert verify_log(page["entries"], signer_did=node.did, head=page["head"]).ok
    actions = [entry["action"] for entry in page["entries"]]
    assert (actions.count("issue"), actions.count("revoke"), actions.count("status-list")) == (
        25,
        5,
        5,
    )
