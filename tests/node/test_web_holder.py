"""The web page for holders and verifiers (issue 14 items 2, 3 and 6) in headless Chromium
against real nodes on 127.0.0.1: a registry's issuer reads "trusted as NAME" and a denied
one fails; a stapled badge, downloaded from the holder's badge page and dropped on a node
cut off from the BNS, says the holder's staple answered; a collection's page marks a badge
revoked since it was added."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from badgechain.node.trust import LOCAL, TrustEntry, TrustRegistry, save_registry
from tests.node.browser import Browser, Page, find_chromium
from tests.node.conftest import NodeNetwork
from tests.node.test_browser import READY, _issued_and_accepted, _report

pytestmark = pytest.mark.slow

NAME = "Web <b>Trusted</b> U"


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A tab of headless Chromium (skipped without one, as tests/node/test_browser.py does)."""
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set and no chromium is installed: the web page tests need it")
        pytest.skip("no chromium installed: the web page tests need a headless Chromium")
    async with Browser.launch(binary) as browser, browser.page() as tab:
        yield tab
        assert tab.errors == [], tab.errors  # no uncaught exception, no CSP violation


async def _typed_uid_report(page: Page, gateway: str, uid: str) -> dict[str, dict[str, str]]:
    await page.goto(gateway + "/", READY)
    await page.type_into("#uid-input", uid)
    await page.press_enter()
    report = await _report(page)
    checks = {check["name"]: check for check in report["checks"]}
    return {"verdict": {"status": report["verdict"]}, **checks}


async def test_the_page_says_trusted_as_name_and_fails_a_denied_issuer(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page
) -> None:
    issuer, earner, verifier = await node_network.start(3)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)

    report = await _typed_uid_report(page, verifier.gateway_url, uid)
    assert report["trust"]["status"] == "skipped", report

    save_registry(verifier.home, TrustRegistry((TrustEntry(issuer.did, NAME, "allow", LOCAL),)))
    report = await _typed_uid_report(page, verifier.gateway_url, uid)
    assert report["verdict"]["status"] == "valid", report
    assert report["trust"]["status"] == "passed"
    assert report["trust"]["message"] == f"Trusted as {NAME}.", report["trust"]
    assert await page.evaluate("document.querySelectorAll('#report b').length") == 0
    assert f"Trusted as {NAME}." in await page.evaluate(
        "document.querySelector('#checks .check[data-name=trust]').textContent"
    )

    save_registry(verifier.home, TrustRegistry((TrustEntry(issuer.did, NAME, "deny", LOCAL),)))
    report = await _typed_uid_report(page, verifier.gateway_url, uid)
    assert report["verdict"]["status"] == "invalid", report
    assert report["trust"]["status"] == "failed", report["trust"]


async def test_a_stapled_badge_on_a_page_cut_off_from_the_bns_says_the_staple_answered(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page, tmp_path: Path
) -> None:
    issuer, earner = await node_network.start(2)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)
    # The holder's badge page offers it with its status stapled.
    await page.goto(f"{earner.gateway_url}/#/badge/{uid}", READY)
    await page.wait_for("!!document.getElementById('badge-stapled')")
    link = await page.evaluate("document.getElementById('badge-stapled').getAttribute('href')")
    assert link == f"/badges/{uid}/stapled"
    async with http.get(earner.gateway_url + link) as response:
        assert response.status == 200
        stapled = await response.json()
    assert stapled["type"] == "StapledCredential"
    chosen = tmp_path / "stapled.json"
    chosen.write_text(json.dumps(stapled))

    alone = NodeNetwork(tmp_path / "alone")  # its own DHT of one: the BNS cannot answer
    try:
        (verifier,) = await alone.start(1)
        await page.goto(verifier.gateway_url + "/", READY)
        await page.set_files("#file-input", [chosen])
        report = await _report(page)
    finally:
        await alone.stop()
    checks = {check["name"]: check for check in report["checks"]}
    assert report["verdict"] == "valid", report
    assert "from the holder's staple, fresh until" in checks["revocation"]["message"], checks
    assert checks["revocation"]["status"] == "passed"


async def test_a_collection_page_marks_a_badge_revoked_after_it_was_added(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page
) -> None:
    issuer, earner = await node_network.start(2)
    kept = await _issued_and_accepted(node_network, http, issuer, earner)
    withdrawn = await _issued_and_accepted(node_network, http, issuer, earner)
    body = {"name": "Shelf", "uids": [kept, withdrawn]}
    async with http.post(
        f"{earner.gateway_url}/admin/collections", json=body, headers=node_network.admin
    ) as response:
        assert response.status == 201
        collection = await response.json()
    revoke = {"uid": withdrawn, "reason": "issued in error"}
    async with http.post(
        f"{issuer.gateway_url}/admin/revoke", json=revoke, headers=node_network.admin
    ) as response:
        assert response.status == 200

    await page.goto(f"{earner.gateway_url}/#/collection/{collection['id']}", READY)
    statuses = {}
    for uid in (kept, withdrawn):
        card = json.dumps(f".card[data-uid={json.dumps(uid)}]")
        await page.wait_for(f"document.querySelector({card})?.dataset.loaded === 'true'")
        statuses[uid] = await page.evaluate(f"document.querySelector({card}).dataset.status")
    assert statuses == {kept: "valid", withdrawn: "revoked"}, statuses
