"""The web page at `/`, in a real headless Chromium driven over the DevTools protocol
(tests/node/browser.py), against real in-process nodes: a baked PNG dropped on the page
verifies, a revoked UID typed in reads why, and the badge and issuer pages show what the
network knows (a badge held elsewhere is fetched, verified and shown with its image and a baked
download), lists load their cards as they come in sight, revoked badges are marked, axe-core
finds no serious or critical accessibility problem, and a phone never scrolls sideways. Also
the plain HTTP side: headers, static files and their allow-list.

Without Chromium these tests skip, unless $CI is set: CI installs it, so there they fail.
axe-core comes from tests/node/axe/ (`npm ci --prefix tests/node/axe`, run by .ci/run); the
accessibility checks skip without it, unless $CI is set.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.images import default_png
from badgechain.chain.keys import KeyPair
from badgechain.chain.multibase import multibase_encode_b58
from badgechain.chain.verify import CHECK_NAMES
from badgechain.node.app import RunningNode
from badgechain.node.page_routes import STATIC_FILES
from tests.node.browser import Browser, Page, find_chromium
from tests.node.conftest import NodeNetwork, eventually

# Markup in a class name and a revocation reason: the page must show it as text.
BADGE_NAME = 'Mesh <i>routing</i> & "relays"'
REASON = "Exam retaken <b>by someone else</b>"
CLASS = {"name": BADGE_NAME, "description": "Routes packets", "criteria": "Passed lab 3"}
READY = "document.body && document.body.dataset.ready === 'true'"
PROBLEM = "application/problem+json"
ISSUER_NAME = "Example <i>Climbing</i> School"
HOME_SETTLED = "document.getElementById('home-issued-status')?.className === 'count'"
AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 375, "height": 700, "deviceScaleFactor": 2, "mobile": True}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set and no chromium is installed: the web page tests need it")
        pytest.skip("no chromium installed: the web page tests need a headless Chromium")
    async with Browser.launch(binary) as running:
        yield running


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    async with browser.page() as tab:
        yield tab
        assert tab.errors == [], tab.errors  # no uncaught exception, no CSP violation


async def _post(
    http: aiohttp.ClientSession, node: RunningNode, path: str, body: Any, headers: dict[str, str]
) -> Any:
    async with http.post(node.gateway_url + path, json=body, headers=headers) as response:
        answer = await response.json(content_type=None)
        assert response.status in (200, 201), answer
        return answer


async def _issued_and_accepted(
    network: NodeNetwork, http: aiohttp.ClientSession, issuer: RunningNode, earner: RunningNode
) -> str:
    """Issue a badge to the earner node's DID; once delivered, the earner accepts it."""
    klass = await _post(http, issuer, "/admin/classes", CLASS, network.admin)
    body = {"class_id": klass["id"], "to": earner.did}
    uid = str((await _post(http, issuer, "/admin/issue", body, network.admin))["uid"])

    async def delivered() -> bool:
        async with http.get(earner.gateway_url + "/admin/inbox", headers=network.admin) as r:
            return uid in {item["uid"] for item in (await r.json())["badges"]}

    await eventually(delivered, timeout=10)
    await _post(http, earner, "/admin/accept", {"uid": uid}, network.admin)
    return uid


async def _issued_by_a_named_issuer(
    network: NodeNetwork, http: aiohttp.ClientSession, issuer: RunningNode, earner: RunningNode
) -> str:
    """A badge whose issuer profile names the issuer, with its own PNG image and an end date
    (signed through the VC API), delivered to the earner node, which accepts it."""
    now = datetime.now(UTC)
    image = "data:image/png;base64," + base64.b64encode(default_png()).decode()
    achievement = build_achievement(
        issuer.did,
        achievement_id="urn:uuid:3f2c7a9e-0b6d-4c1e-9a57-5d0f3c2b8e41",
        name="Safe <b>climbing</b>",
        description="Belays a partner safely",
        criteria="Two supervised climbs",
        image=image,
    )
    credential = build_credential(
        issuer_did=issuer.did,
        subject_id=earner.did,
        achievement=achievement,
        valid_from=now,
        credential_id=f"urn:uuid:{uuid.uuid4()}",
        issuer_name=ISSUER_NAME,
        valid_until=now + timedelta(days=400),
    )
    body = {"credential": credential, "options": {}}
    signed = await _post(http, issuer, "/credentials/issue", body, network.admin)
    uid = str(signed["verifiableCredential"]["proof"]["proofValue"])

    async def delivered() -> bool:
        async with http.get(earner.gateway_url + "/admin/inbox", headers=network.admin) as r:
            return uid in {item["uid"] for item in (await r.json())["badges"]}

    await eventually(delivered, timeout=10)
    await _post(http, earner, "/admin/accept", {"uid": uid}, network.admin)
    return uid


async def _text(page: Page, selector: str) -> str:
    return str(await page.evaluate(f"document.querySelector({json.dumps(selector)}).textContent"))


async def _report(page: Page) -> dict[str, Any]:
    """The verdict and the checks the page shows, once it shows a report."""
    await page.wait_for("!document.getElementById('report').hidden")
    report: dict[str, Any] = await page.evaluate(
        """({
            verdict: document.getElementById('verdict').dataset.verdict,
            checks: [...document.querySelectorAll('#checks .check')].map(c => ({
                name: c.dataset.name, status: c.dataset.status,
                message: c.querySelector('.check-message').textContent})),
            markup: document.querySelectorAll('#report i, #report b').length,
        })"""
    )
    return report


# -- in the browser --------------------------------------------------------------------------


async def test_a_dropped_baked_png_verifies(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page, tmp_path: Path
) -> None:
    issuer, earner = await node_network.start(2)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)
    async with http.get(f"{earner.gateway_url}/badges/{uid}.png") as response:
        assert response.status == 200
        baked = tmp_path / "badge.png"
        baked.write_bytes(await response.read())

    await page.goto(earner.gateway_url + "/", READY)
    await page.wait_for(HOME_SETTLED)  # a drop aims at where the zone is on the screen
    await page.drop_files("#drop-zone", [baked])  # a real drag from outside the page
    report = await _report(page)

    assert report["verdict"] == "valid", report
    assert [check["name"] for check in report["checks"]] == list(CHECK_NAMES)
    by_name = {check["name"]: check for check in report["checks"]}
    assert by_name["proof"]["status"] == "passed"
    assert by_name["revocation"]["status"] == "passed"
    assert by_name["revocation"]["message"] == "Not revoked in the BNS."
    assert uid in await _text(page, ".report-uid")

    # The same badge as JSON, chosen with the file picker (the keyboard's way in).
    async with http.get(f"{earner.gateway_url}/badges/{uid}.json") as response:
        chosen = tmp_path / "badge.json"
        chosen.write_bytes(await response.read())
    await page.evaluate("document.getElementById('report').hidden = true")
    await page.set_files("#file-input", [chosen])
    report = await _report(page)
    assert report["verdict"] == "valid" and len(report["checks"]) == len(CHECK_NAMES)


async def test_a_revoked_uid_typed_in_reads_why(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page
) -> None:
    issuer, earner, verifier = await node_network.start(3)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)
    await _post(http, issuer, "/admin/revoke", {"uid": uid, "reason": REASON}, node_network.admin)

    await page.goto(verifier.gateway_url + "/", READY)
    await page.type_into("#uid-input", f"urn:bns:{uid}")
    await page.press_enter()  # the keyboard submits the form
    report = await _report(page)

    assert report["verdict"] == "invalid", report
    revocation = next(check for check in report["checks"] if check["name"] == "revocation")
    assert revocation["status"] == "failed"
    assert revocation["message"] == f"Revoked by its issuer: {REASON}."
    assert report["markup"] == 0  # the reason's <b> is text, not an element
    assert "Revocation: Revoked by its issuer" in await _text(page, "#verdict-summary")


async def test_an_unknown_uid_and_bad_json_read_as_errors(
    node_network: NodeNetwork, page: Page
) -> None:
    (node,) = await node_network.start(1)
    await page.goto(node.gateway_url + "/", READY)
    await page.type_into("#uid-input", "not-a-uid")
    await page.press_enter()
    await page.wait_for("!document.getElementById('error').hidden")
    assert "[uid_invalid]" in await _text(page, "#error")

    await page.type_into("#paste-input", '{"@context": ')
    await page.evaluate("document.querySelector('#paste-form button').click()")
    report = await _report(page)
    assert report["verdict"] == "invalid"
    assert report["checks"][0]["name"] == "input" and report["checks"][0]["status"] == "failed"
    assert await page.evaluate("document.getElementById('error').hidden")


async def _data_did(page: Page, selector: str) -> str:
    """The whole DID behind a shortened one (the copy button copies it)."""
    return str(await page.evaluate(f"document.querySelector({json.dumps(selector)}).dataset.did"))


async def _axe_problems(page: Page) -> list[dict[str, Any]]:
    """The serious and critical violations axe-core finds on the page as it is now. axe is
    evaluated over CDP, as DevTools would: the page's policy admits no other script."""
    if not AXE.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {AXE} is missing: run npm ci --prefix tests/node/axe")
        pytest.skip("axe-core is not installed: npm ci --prefix tests/node/axe")
    if not await page.evaluate("typeof axe === 'object'"):
        await page.evaluate(AXE.read_text())
    found: list[dict[str, Any]] = await page.evaluate(
        """axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target)})))"""
    )
    return found


async def _scrolls_sideways(page: Page) -> bool:
    return bool(
        await page.evaluate(
            "document.documentElement.scrollWidth > document.documentElement.clientWidth"
        )
    )


async def _phone(page: Page) -> None:
    await page.call("Emulation.setDeviceMetricsOverride", **PHONE)


async def _download(page: Page, folder: Path) -> Path:
    """The file the badge page's download link saves, clicked as a person would."""
    folder.mkdir()
    return await page.download("#badge-download", folder)


async def _press_tab(page: Page) -> None:
    for kind in ("keyDown", "keyUp"):
        await page.call(
            "Input.dispatchKeyEvent", type=kind, key="Tab", code="Tab", windowsVirtualKeyCode=9
        )


async def test_the_badge_page_and_the_issuer_page(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page, tmp_path: Path
) -> None:
    issuer, earner, endorser = await node_network.start(3)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)

    await page.goto(f"{earner.gateway_url}/#/badge/{uid}", READY)
    await page.wait_for("!!document.getElementById('badge-name')")
    assert await _text(page, "#badge-name") == BADGE_NAME
    assert await page.evaluate("document.querySelectorAll('#badge-view i').length") == 0
    assert await _data_did(page, "#badge-issuer .did") == issuer.did
    assert await _data_did(page, "#badge-earner .did") == earner.did
    assert await _text(page, "#badge-earner a.person") == earner.config.name  # this node's own
    assert await page.evaluate("document.getElementById('badge-status').dataset.status") == "valid"
    assert await page.evaluate("!!document.getElementById('endorsements-none')")

    # Endorsed by a third node, and accepted by the earner: the badge page lists it.
    comment = "Solid <work> & more"
    body = {"uid": uid, "comment": comment}
    endorsement = await _post(http, endorser, "/admin/endorse", body, node_network.admin)
    assert endorsement["delivery"]["status"] == "delivered", endorsement
    accepted = {"uid": endorsement["uid"]}
    await _post(http, earner, "/admin/accept", accepted, node_network.admin)
    async with http.get(f"{earner.gateway_url}/badges/{uid}/endorsements") as response:
        listed = (await response.json())["endorsements"]
    assert [item["uid"] for item in listed] == [endorsement["uid"]]
    await page.evaluate("location.reload()")
    await page.wait_for("!!document.querySelector('#endorsements .endorsement')")
    assert await _data_did(page, "#endorsements .endorsement a.did") == endorser.did
    assert await _text(page, "#endorsements .endorsement q") == comment
    download = await page.evaluate(
        "(() => { const a = document.getElementById('badge-download');"
        " return [a.getAttribute('href'), a.hasAttribute('download')]; })()"
    )
    assert download == [f"/badges/{uid}.png", True]
    saved = await _download(page, tmp_path / "held")
    assert saved.name == "mesh-i-routing-i-relays.png"
    assert saved.read_bytes().startswith(b"\x89PNG")
    await page.wait_for(
        "(() => { const i = document.getElementById('badge-image');"
        " return i && i.complete && i.naturalWidth > 0; })()"
    )

    # The issuer link on the badge page leads to the issuer page, through the #fragment.
    await page.evaluate("document.querySelector('#badge-issuer a.person').click()")
    card = f".card[data-uid={json.dumps(uid)}]"
    await page.wait_for(f"document.querySelector({json.dumps(card)})?.dataset.loaded === 'true'")
    assert await _data_did(page, "#issuer-did .did") == issuer.did
    assert await _text(page, f"{card} .card-name") == BADGE_NAME  # held here: its name is known
    assert await page.evaluate(f"!!document.querySelector({json.dumps(card + ' img')})")
    assert await _text(page, f"{card} .status") == "✓ Valid"
    more = "getComputedStyle(document.getElementById('issuer-more')).display"
    assert await page.evaluate(more) == "none"
    assert await page.evaluate("document.getElementById('badge-view').hidden")
    await page.evaluate(f"document.querySelector({json.dumps(card + ' a')}).click()")
    await page.wait_for("!document.getElementById('badge-view').hidden")
    await page.wait_for("!!document.getElementById('badge-name')")


async def test_a_badge_held_elsewhere_is_fetched_verified_and_shown(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page, tmp_path: Path
) -> None:
    """Issue 16 item 13: a node that does not hold the badge shows all of it, verified."""
    issuer, earner, other = await node_network.start(3)
    uid = await _issued_by_a_named_issuer(node_network, http, issuer, earner)
    await page.goto(f"{other.gateway_url}/#/badge/{uid}", READY)
    await page.wait_for("!!document.getElementById('badge-download')")

    name = "Safe <b>climbing</b>"
    assert await _text(page, "#badge-title") == name
    assert await _text(page, "#badge-name") == name
    assert await _text(page, "#badge-description") == "Belays a partner safely"
    assert await _text(page, "#badge-criteria") == "Two supervised climbs"
    assert await _text(page, "#badge-issuer a.person") == ISSUER_NAME  # the issuer profile's
    assert await _data_did(page, "#badge-issuer .did") == issuer.did  # and the DID beneath
    assert await _text(page, "#badge-earner a.person") == "An unnamed earner"
    assert await _data_did(page, "#badge-earner .did") == earner.did
    now = datetime.now(UTC)
    assert str(now.year) in await _text(page, "#badge-issued")
    assert str((now + timedelta(days=400)).year) in await _text(page, "#badge-expires")
    assert await page.evaluate("document.getElementById('badge-status').dataset.status") == "valid"
    assert "checked its signature" in await _text(page, "#badge-status-line")
    assert await page.evaluate("!!document.getElementById('endorsements-none')")
    assert (
        await page.evaluate("document.querySelectorAll('#badge-view i, #badge-view b').length") == 0
    )
    holder = await page.evaluate("document.querySelector('.note a').getAttribute('href')")
    assert holder == f"{earner.gateway_url}/#/badge/{uid}"
    await page.wait_for(
        "(() => { const i = document.getElementById('badge-image');"
        " return i && i.complete && i.naturalWidth === 128; })()"  # its own image, not a medal
    )

    # The download is the badge baked into its PNG, made in the page: it verifies anywhere.
    assert (await page.evaluate("document.getElementById('badge-download').href")).startswith(
        "blob:"
    )
    saved = await _download(page, tmp_path / "fetched")
    assert saved.name == "safe-b-climbing-b.png"
    headers = {"Content-Type": "image/png"}
    async with http.post(
        other.gateway_url + "/verify", data=saved.read_bytes(), headers=headers
    ) as response:
        report = await response.json()
    assert report["verdict"] == "valid" and report["uid"] == uid, report

    # The issuer page learns the issuer's name from its badges' profile.
    await page.evaluate("document.querySelector('#badge-issuer a.person').click()")
    await page.wait_for(
        f"document.getElementById('issuer-title').textContent === {json.dumps(ISSUER_NAME)}"
    )
    assert await _axe_problems(page) == []


async def test_a_revoked_badge_is_marked_on_every_page(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page
) -> None:
    issuer, earner, other = await node_network.start(3)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)
    await _post(http, issuer, "/admin/revoke", {"uid": uid, "reason": REASON}, node_network.admin)
    card = f".card[data-uid={json.dumps(uid)}]"

    for where in (f"issuer/{issuer.did}", f"earner/{earner.did}"):
        await page.goto(f"{other.gateway_url}/#/{where}", READY)
        await page.wait_for(
            f"document.querySelector({json.dumps(card)})?.dataset.loaded === 'true'"
        )
        assert await page.evaluate(
            f"document.querySelector({json.dumps(card)}).dataset.status"
        ) == ("revoked")
        assert await _text(page, f"{card} .status") == "✗ Revoked"
        assert await _text(page, f"{card} .card-name") == BADGE_NAME
        assert await _axe_problems(page) == [], where

    await page.goto(f"{other.gateway_url}/#/badge/{uid}", READY)
    await page.wait_for("!!document.getElementById('badge-revoked')")
    assert (
        await page.evaluate("document.getElementById('badge-status').dataset.status") == "revoked"
    )
    assert f"{REASON}." in await _text(page, "#badge-revoked")
    assert await page.evaluate("document.querySelectorAll('#badge-view b').length") == 0
    assert await _axe_problems(page) == []


async def test_a_badge_that_cannot_be_shown_says_why(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page
) -> None:
    issuer, earner, other = await node_network.start(3)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)
    await _post(http, earner, "/admin/hide", {"uid": uid}, node_network.admin)
    unknown = multibase_encode_b58(issuer.key.sign(b"never published"))
    cases = {
        "zzzz": ("uid_invalid", "This is not a badge ID"),
        unknown: ("bns_not_found", "No badge has this ID"),
        uid: ("badge_hidden", "A hidden badge"),
    }
    for asked, (code, title) in cases.items():
        await page.goto("about:blank")
        await page.goto(f"{other.gateway_url}/#/badge/{asked}", READY)
        await page.wait_for("!!document.getElementById('badge-problem')")
        assert await page.evaluate("document.getElementById('badge-problem').dataset.code") == code
        assert await _text(page, "#badge-title") == title
        assert await _axe_problems(page) == [], code
    # What the BNS says of the hidden badge is still shown: who issued it, to whom.
    assert await _data_did(page, "#badge-issuer .did") == issuer.did
    assert await _data_did(page, "#badge-earner .did") == earner.did


async def test_the_home_page_says_whose_node_it_is(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page
) -> None:
    """Issue 16 item 14: whose node, what it shows; a long list loads its cards in sight."""
    issuer, _ = await node_network.start(2)  # a BNS of two, for the issuer's index
    klass = await _post(http, issuer, "/admin/classes", CLASS, node_network.admin)
    uids = []
    for _ in range(8):  # to keys no node serves: the issuer keeps and shows them
        body = {"class_id": klass["id"], "to": KeyPair.generate().did}
        uids.append((await _post(http, issuer, "/admin/issue", body, node_network.admin))["uid"])

    await _phone(page)
    await page.goto(issuer.gateway_url + "/", READY)
    await page.wait_for("document.querySelectorAll('#home-issued-badges .card').length === 8")
    assert await _text(page, "#home-title") == f"{issuer.config.name}\u2019s badges"
    assert await _data_did(page, "#home-intro .did") == issuer.did
    assert await _text(page, "#home-earned-status") == "None yet."
    # At phone size the list is below the fold: its cards wait until they come in sight.
    waiting = "document.querySelectorAll('#home-issued-badges .card[data-loaded=false]').length"
    assert await page.evaluate(waiting) > 0
    await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    await page.wait_for(f"{waiting} === 0")
    shown = await page.evaluate(
        "[...document.querySelectorAll('#home-issued-badges .card')].map(c => c.dataset.uid)"
    )
    assert sorted(shown) == sorted(uids)
    assert not await _scrolls_sideways(page)
    assert await _axe_problems(page) == []


async def test_pages_fit_a_phone_pass_axe_and_work_by_keyboard(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page
) -> None:
    """Issue 16 item 15: no sideways scrolling at phone width, no serious or critical axe
    finding on the home, badge, issuer, earner and collection pages."""
    issuer, earner = await node_network.start(2)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)
    body = {"name": "Best work", "uids": [uid], "description": "Chosen"}
    collection = await _post(http, earner, "/admin/collections", body, node_network.admin)
    views = {"home": "verify"}  # the home is the verify view
    routes = {
        "home": "",
        "badge": f"badge/{uid}",
        "issuer": f"issuer/{issuer.did}",
        "earner": f"earner/{earner.did}",
        "collection": f"collection/{collection['id']}",
    }
    for width in ("desktop", "phone"):
        if width == "phone":
            await _phone(page)
        for name, route in routes.items():
            await page.goto(f"{earner.gateway_url}/#/{route}", READY)
            if name == "badge":
                await page.wait_for("!!document.getElementById('badge-download')")
            else:  # a card fills in once it is in sight
                card = json.dumps(
                    f"#{views.get(name, name)}-view .card[data-uid={json.dumps(uid)}]"
                )
                await page.wait_for(f"!!document.querySelector({card})")
                await page.evaluate(f"document.querySelector({card}).scrollIntoView()")
                await page.wait_for(f"document.querySelector({card}).dataset.loaded === 'true'")
            assert await _axe_problems(page) == [], (width, name)
            assert not await _scrolls_sideways(page), (width, name)

    # The copy button beside a shortened DID copies the whole DID.
    origin = earner.gateway_url
    await page.browser.call(
        "Browser.grantPermissions",
        origin=origin,
        permissions=["clipboardReadWrite", "clipboardSanitizedWrite"],
    )
    await page.goto(f"{origin}/#/badge/{uid}", READY)
    await page.wait_for("!!document.querySelector('#badge-issuer button.copy')")
    await page.evaluate("document.querySelector('#badge-issuer button.copy').focus()")
    await page.press_enter()  # a keyboard press on the button
    await page.wait_for(
        "document.querySelector('#badge-issuer button.copy').textContent !== 'Copy'"
    )
    assert await _text(page, "#badge-issuer button.copy") == "Copied"
    assert await page.evaluate("navigator.clipboard.readText()") == issuer.did

    # Keyboard: Tab reaches the skip link first, and Enter on it moves focus to the content.
    await page.goto(f"{earner.gateway_url}/#/badge/{uid}", READY)
    await page.evaluate("window.before = true; location.reload()")  # a fresh load: no focus
    await page.wait_for(f"!window.before && {READY}")
    await _press_tab(page)
    assert await page.evaluate("document.activeElement.id") == "skip-link"
    await page.press_enter()
    await page.wait_for("document.activeElement.id === 'main'")
    assert await page.evaluate("location.hash") == f"#/badge/{uid}"


# -- over plain HTTP ---------------------------------------------------------------------------


class _Markup(HTMLParser):
    """What of a page a strict CSP would block: inline scripts, styles and handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self.scripts.append(named.get("src") or "")
            self._in_script = True
        if tag == "style" or "style" in named or any(name.startswith("on") for name in named):
            self.inline.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("script")


async def test_the_page_is_served_with_a_strict_policy(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    (node,) = await node_network.start(1)
    async with http.get(node.gateway_url + "/") as response:
        assert response.status == 200 and response.content_type == "text/html"
        policy = response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        html = await response.text()
    assert "default-src 'self'" in policy and "img-src 'self' data: blob:" in policy
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    markup = _Markup()
    markup.feed(html)
    assert markup.scripts == ["/static/app.js", "/static/present.js"] and markup.inline == []

    for name, media_type in STATIC_FILES.items():
        async with http.get(f"{node.gateway_url}/static/{name}") as response:
            assert (response.status, response.content_type) == (200, media_type)
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert len(await response.read()) > 100
    async with http.head(f"{node.gateway_url}/static/app.js") as response:
        assert response.status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/static/nothing.js",
        "/static/index.html",
        "/static/APP.JS",
        "/static/..%2fapp.py",
        "/static/..%2f..%2fnode%2fapp.py",
        "/static/%2e%2e%2fpage_routes.py",
        "/static/app.js%00.py",
        "/static/",
    ],
)
async def test_only_the_listed_static_files_are_served(
    node_network: NodeNetwork, http: aiohttp.ClientSession, path: str
) -> None:
    (node,) = await node_network.start(1)
    async with http.get(URL(node.gateway_url + path, encoded=True)) as response:
        body = await response.text()
        assert response.status == 404, (path, body)
        assert response.content_type == PROBLEM
    assert "import" not in body and "def " not in body


async def test_a_shared_collection_opens_as_a_page(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page
) -> None:
    issuer, earner = await node_network.start(2)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)
    body = {"name": "My <b>best</b> work", "uids": [uid], "description": "Chosen & shared"}
    collection = await _post(http, earner, "/admin/collections", body, node_network.admin)
    assert collection["page"] == f"{earner.gateway_url}/#/collection/{collection['id']}"

    await page.goto(collection["page"], READY)
    await page.wait_for("!!document.querySelector('#collection-badges .card')")
    assert await _text(page, "#collection-title") == "My <b>best</b> work"
    assert await _text(page, "#collection-description") == "Chosen & shared"
    assert await _text(page, "#collection-owner a.person") == earner.config.name
    assert await _data_did(page, "#collection-owner .did") == earner.did
    assert await page.evaluate("document.querySelectorAll('#collection-view b').length") == 0
    listed = f".card[data-uid={json.dumps(uid)}]"
    assert await _text(page, f"{listed} a") == BADGE_NAME
    await page.wait_for(f"document.querySelector({json.dumps(listed)}).dataset.loaded === 'true'")
    assert await _text(page, f"{listed} .status") == "✓ Valid"
    await page.evaluate(f"document.querySelector({json.dumps(listed + ' a')}).click()")
    await page.wait_for("!document.getElementById('badge-view').hidden")
    await page.wait_for("!!document.getElementById('badge-name')")

    await page.goto(f"{earner.gateway_url}/#/collection/nope", READY)
    await page.wait_for("document.getElementById('collection-status').className === 'error'")


async def test_verify_by_uid_can_include_the_badge_it_fetched(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    """The page's one gateway addition: GET /verify/{uid}?include=credential."""
    issuer, earner, other = await node_network.start(3)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)
    async with http.get(f"{earner.gateway_url}/badges/{uid}.json") as response:
        held = await response.json()
    async with http.get(f"{other.gateway_url}/verify/{uid}") as response:
        plain = await response.json()
    assert plain["verdict"] == "valid" and "credential" not in plain
    async with http.get(f"{other.gateway_url}/verify/{uid}?include=credential") as response:
        answer = await response.json()
    assert answer["verdict"] == "valid" and answer["credential"] == held
    async with http.get(f"{other.gateway_url}/verify/{uid}?include=everything") as response:
        assert (response.status, response.content_type) == (400, PROBLEM)
        assert (await response.json())["code"] == "include_invalid"
    async with http.get(f"{other.gateway_url}/health") as response:
        assert (await response.json())["name"] == other.config.name
