"""The web page verifies presentations (issue 14 item 1) in headless Chromium against real
nodes on 127.0.0.1: it asks the verifier's node for a challenge, the earner's node presents
for it, and the pasted (or chosen) presentation shows its holder, the challenge and domain,
each badge's verdict and its staple; a replay and a presentation for another domain are
refused in words. axe-core finds no serious or critical problem."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from badgechain.node.app import RunningNode
from tests.node.browser import Browser, Page, find_chromium
from tests.node.conftest import NodeNetwork
from tests.node.test_browser import READY, _axe_problems, _issued_and_accepted

pytestmark = pytest.mark.slow

SHOWN = "!document.getElementById('vp-report').hidden"
REFUSED = "!document.getElementById('vp-error').hidden"


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


async def _ask_challenge(page: Page) -> tuple[str, str]:
    await page.evaluate("document.getElementById('vp-ask').click()")
    await page.wait_for("!!document.getElementById('vp-challenge-value')")
    found = await page.evaluate(
        "[document.getElementById('vp-challenge-value').textContent,"
        " document.getElementById('vp-domain-value').textContent]"
    )
    return str(found[0]), str(found[1])


async def _present(
    network: NodeNetwork,
    http: aiohttp.ClientSession,
    earner: RunningNode,
    uid: str,
    challenge: str,
    domain: str,
) -> Any:
    body = {"uids": [uid], "challenge": challenge, "domain": domain}
    path = earner.gateway_url + "/admin/present"
    async with http.post(path, json=body, headers=network.admin) as response:
        assert response.status == 200
        return await response.json()


async def _paste_and_verify(page: Page, presentation: Any) -> None:
    await page.evaluate("document.getElementById('vp-input').value = ''")
    await page.type_into("#vp-input", json.dumps(presentation))
    await page.evaluate("document.getElementById('vp-form').requestSubmit()")


async def _shown(page: Page) -> dict[str, Any]:
    await page.wait_for(SHOWN)
    shown: dict[str, Any] = await page.evaluate(
        """({
            verdict: document.getElementById('vp-verdict').dataset.verdict,
            holder: document.getElementById('vp-holder').textContent,
            binding: document.getElementById('vp-binding').dataset.status,
            bindingText: document.getElementById('vp-binding').textContent,
            staples: document.getElementById('vp-staples').textContent,
            credentials: [...document.querySelectorAll('#vp-credentials .credential')].map(c => ({
                uid: c.dataset.uid, verdict: c.dataset.verdict, stapled: c.dataset.stapled,
                message: c.querySelector('.check-message').textContent})),
            markup: document.querySelectorAll('#vp-report i, #vp-report b').length,
        })"""
    )
    return shown


async def test_the_page_verifies_a_presentation_once_for_its_challenge(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page
) -> None:
    issuer, earner, verifier = await node_network.start(3)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)
    await page.goto(verifier.gateway_url + "/", READY)
    challenge, domain = await _ask_challenge(page)
    assert domain == verifier.gateway_url  # asked with no domain: the node's own
    presentation = await _present(node_network, http, earner, uid, challenge, domain)

    await _paste_and_verify(page, presentation)
    shown = await _shown(page)
    assert shown["verdict"] == "valid", shown
    assert shown["holder"] == earner.did
    assert shown["binding"] == "passed" and challenge in shown["bindingText"]
    [credential] = shown["credentials"]
    assert credential["uid"] == uid and credential["verdict"] == "valid", credential
    assert credential["stapled"] == "true"  # the earner's node stapled its status
    assert "stapled its status" in credential["message"]
    assert "staple" in shown["staples"]
    assert shown["markup"] == 0  # the class name's <i> is text, not markup
    assert await _axe_problems(page) == []

    # The same presentation again: its challenge is used up.
    await _paste_and_verify(page, presentation)
    await page.wait_for(REFUSED)
    error = await page.evaluate("document.getElementById('vp-error').textContent")
    assert "challenge_replayed" in error, error


async def test_a_chosen_presentation_for_another_domain_reads_why(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page, tmp_path: Path
) -> None:
    issuer, earner, verifier = await node_network.start(3)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)
    await page.goto(verifier.gateway_url + "/", READY)
    challenge, _ = await _ask_challenge(page)
    elsewhere = await _present(node_network, http, earner, uid, challenge, "elsewhere.example")
    chosen = tmp_path / "presentation.json"
    chosen.write_text(json.dumps(elsewhere))

    await page.set_files("#vp-file", [chosen])
    shown = await _shown(page)
    assert shown["verdict"] == "invalid", shown
    assert shown["binding"] == "failed" and "domain_mismatch" in shown["bindingText"], shown
    assert await _axe_problems(page) == []

    await page.evaluate("document.getElementById('vp-input').value = '{not json'")
    await page.evaluate("document.getElementById('vp-form').requestSubmit()")
    await page.wait_for(REFUSED)
    error = await page.evaluate("document.getElementById('vp-error').textContent")
    assert "not JSON" in error


async def test_a_verifier_cut_off_from_the_bns_says_the_staple_answered(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page, tmp_path: Path
) -> None:
    issuer, earner = await node_network.start(2)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)
    alone = NodeNetwork(tmp_path / "alone")  # its own DHT of one: the BNS cannot answer
    try:
        (verifier,) = await alone.start(1)
        await page.goto(verifier.gateway_url + "/", READY)
        challenge, domain = await _ask_challenge(page)
        presentation = await _present(node_network, http, earner, uid, challenge, domain)
        await _paste_and_verify(page, presentation)
        shown = await _shown(page)
    finally:
        await alone.stop()
    assert shown["verdict"] == "valid", shown
    assert "answered from the holder's staple" in shown["staples"], shown
    assert shown["credentials"][0]["stapled"] == "true"
