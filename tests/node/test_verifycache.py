"""GET /verify/{uid} for a badge seen before: the fetched badge and the report are reused
while they hold (node/badgecache.py, node/verifycache.py), and never past a change of what
the report depended on. Real nodes on 127.0.0.1: an issuer, an earner and a verifier."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp

from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.keys import KeyPair
from badgechain.chain.proof import sign_credential
from badgechain.chain.statuslist import CheckedList
from badgechain.chain.uid import Uid
from badgechain.node.badgecache import _max_age
from badgechain.node.badgestore import credential_uid
from badgechain.node.resolvers import CachedList
from badgechain.node.verifycache import _dates, _still_true, _Trace
from tests.node.test_verify_online import Trio, _credential, _get, _now, _publish, trio

__all__ = ["trio"]  # the fixture, shared with test_verify_online


def _failed(report: dict[str, Any]) -> tuple[str, str] | None:
    failed = next((c for c in report["checks"] if c["status"] == "failed"), None)
    return None if failed is None else (failed["name"], failed["code"])


async def test_a_seen_badge_is_answered_while_its_earner_is_away_and_a_revocation_shows(
    trio: Trio,
) -> None:
    badge = sign_credential(
        _credential(trio.issuer.did, trio.earner.did), trio.issuer.key, created=_now()
    )
    uid = await _publish(trio.issuer, trio.issuer.key, badge, trio.earner)
    status, first = await _get(trio.verifier, f"/verify/{uid}")
    assert (status, first["verdict"]) == (200, "valid"), first

    await trio.earner.stop()  # its location no longer answers: the copy kept still holds
    status, again = await _get(trio.verifier, f"/verify/{uid}")
    assert (status, again) == (200, first)

    await trio.issuer.names.revoke(trio.issuer.key, Uid(credential_uid(badge)), "cheated", 1)
    status, revoked = await _get(trio.verifier, f"/verify/{uid}")
    assert status == 200 and _failed(revoked) == ("revocation", "revoked"), revoked


async def test_the_badge_is_asked_again_with_its_etag_and_a_hide_is_followed(
    trio: Trio,
) -> None:
    badge = sign_credential(
        _credential(trio.issuer.did, trio.earner.did), trio.issuer.key, created=_now()
    )
    uid = await _publish(trio.issuer, trio.issuer.key, badge, trio.earner)
    url = f"{trio.earner.gateway_url}/badges/{uid}"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            etag = response.headers["ETag"]
            assert response.status == 200 and "max-age" in response.headers["Cache-Control"]
        async with session.get(url, headers={"If-None-Match": etag}) as response:
            assert response.status == 304 and await response.read() == b""

    status, report = await _get(trio.verifier, f"/verify/{uid}")
    assert (status, report["verdict"]) == (200, "valid")
    await trio.earner.names.hide(trio.earner.key, Uid(credential_uid(badge)))
    status, problem = await _get(trio.verifier, f"/verify/{uid}")
    assert (status, problem["code"]) == (404, "badge_hidden")


def test_cache_control_decides_how_long_a_copy_is_fresh() -> None:
    assert _max_age("public, max-age=30") == 30.0
    assert _max_age("max-age=86400") == 60.0  # capped
    assert _max_age("no-cache") == 0.0  # kept, asked again with its validators every time
    assert _max_age("") == 0.0
    assert _max_age("no-store") is None and _max_age("private, max-age=9") is None


def test_the_clock_bounds_come_from_every_date_in_the_badge() -> None:
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    did = KeyPair.from_seed(bytes(32)).did
    achievement = build_achievement(
        did, achievement_id="urn:uuid:1", name="n", description="d", criteria="c"
    )
    credential = build_credential(
        issuer_did=did,
        subject_id=did,
        achievement=achievement,
        valid_from=now,
        credential_id="urn:uuid:2",
    )
    credential["validUntil"] = "2026-06-02T00:00:00Z"
    found = set(_dates(credential, [256]))
    assert found == {now, dt.datetime(2026, 6, 2, tzinfo=dt.UTC)}


async def test_a_kept_report_holds_only_while_its_status_list_is_the_same_and_fresh(
    trio: Trio,
) -> None:
    node = trio.verifier
    now = node.clock()
    url = "https://issuer.example/status/1"
    checked = _checked_list(url)
    node.status_cache.lists[url] = CachedList(checked, now + dt.timedelta(minutes=5))
    trace = _Trace(lists=[(url, checked)])

    assert await _still_true(node, trace, now)
    assert not await _still_true(node, trace, now + dt.timedelta(minutes=6))  # no longer fresh
    node.status_cache.lists[url] = CachedList(_checked_list(url), now + dt.timedelta(hours=1))
    assert not await _still_true(node, trace, now)  # fetched and checked again meanwhile
    del node.status_cache.lists[url]
    assert not await _still_true(node, trace, now)


def _checked_list(url: str) -> CheckedList:
    return CheckedList(url, "did:example:issuer", ("revocation",), bytes(16), None, None)
