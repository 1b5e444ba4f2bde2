"""A backpack listing believes the BNS, not only the earner's own state: a badge its issuer
revoked after the earner accepted it is listed as revoked, by the admin API and the CLI."""

from __future__ import annotations

import time

import aiohttp

from badgechain.chain.multibase import multibase_encode_b58
from badgechain.node.badgestore import save_badge
from badgechain.node.delivery import enqueue_delivery
from badgechain.node.records import BadgeRecord
from tests.node.test_earner import (  # noqa: F401 (cluster, session: the fixtures)
    Cluster,
    call,
    cli,
    cluster,
    eventually,
    inbox_uids,
    issue,
    session,
    sign_badge,
)


async def test_a_badge_revoked_after_it_was_accepted_is_listed_as_revoked(
    cluster: Cluster,  # noqa: F811 (the fixture)
    session: aiohttp.ClientSession,  # noqa: F811 (the fixture)
) -> None:
    issuer = await cluster.start("issuer")
    earner = await cluster.start("earner", seed="issuer")
    uid, badge = await issue(issuer, earner.did)
    assert await enqueue_delivery(issuer, uid, badge) == "delivered"
    text_uid = multibase_encode_b58(uid)

    async def in_inbox() -> bool:
        return text_uid in await inbox_uids(session, earner)

    assert await eventually(in_inbox, 10)
    assert (await cli(earner, "accept", text_uid)).exit_code == 0
    # A badge signed to this earner whose entry was never published: the BNS has no record.
    unpublished = sign_badge(issuer.key, earner.did)
    record = BadgeRecord(role="received", state="accepted", at="2026-01-01T00:00:00+00:00")
    save_badge(earner.store, unpublished, record)

    status, listed = await call(session, earner, "GET", "/admin/badges?check=bns")
    assert status == 200
    said = {b["id"]: b["bns"] for b in listed["badges"]}
    assert said[text_uid] == "standing" and sorted(said.values()) == ["not_found", "standing"]

    await issuer.names.revoke(issuer.key, uid, "awarded in error", int(time.time()))
    _, listed = await call(session, earner, "GET", "/admin/badges?check=bns")
    revoked = next(b for b in listed["badges"] if b["id"] == text_uid)
    assert revoked["state"] == "accepted"  # what happened here; the BNS says the rest
    assert revoked["bns"] == "revoked"
    assert revoked["revocation"]["reason"] == "awarded in error"

    shown = await cli(earner, "badges")
    assert shown.exit_code == 0, shown.output
    line = next(row for row in shown.output.splitlines() if row.startswith(text_uid))
    assert "revoked " in line and "revoked by its issuer: awarded in error" in line
    local = await cli(earner, "badges", "--local")
    line = next(row for row in local.output.splitlines() if row.startswith(text_uid))
    assert "accepted" in line and "revoked" not in line
    _, plain = await call(session, earner, "GET", "/admin/badges")
    assert all("bns" not in b for b in plain["badges"])


async def test_the_check_parameter_is_validated(
    cluster: Cluster,  # noqa: F811 (the fixture)
    session: aiohttp.ClientSession,  # noqa: F811 (the fixture)
) -> None:
    earner = await cluster.start("earner")
    status, problem = await call(session, earner, "GET", "/admin/badges?check=everything")
    assert (status, problem["code"]) == (400, "query_invalid")
