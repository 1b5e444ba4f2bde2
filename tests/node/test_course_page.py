"""The course pages (issue 15) in a real headless Chromium (tests/node/browser.py) against a
real node and the loopback blog of tests/node/test_courses.py: the review queue at /review
(admin token pasted in, kept in sessionStorage) awards and declines submissions; a course's
public page registers a participant; axe-core finds no serious or critical problem on
either. Also, over plain HTTP: the public registration's rate limit, and the completion
badge, issued once a participant holds every task's badge.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from badgechain.node import course_review
from badgechain.node.app import RunningNode
from badgechain.node.course_limits import REGISTRATIONS
from tests.node.browser import Browser, Page, find_chromium
from tests.node.conftest import ADMIN_TOKEN, NodeNetwork, eventually
from tests.node.test_browser import _axe_problems
from tests.node.test_courses import (
    Blog,
    _blog_app,
    call,
    course_with_task,
    harvest_now,
    join,
)


@pytest.fixture
async def site() -> AsyncIterator[Blog]:
    """The loopback blog of tests/node/test_courses.py, served for one test."""
    state = Blog()
    runner = web.AppRunner(_blog_app(state))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield state
    finally:
        state.never.set()
        await runner.cleanup()


READY = "document.body && document.body.dataset.ready === 'true'"
Json = Any
PHONE = {"width": 375, "height": 700, "deviceScaleFactor": 2, "mobile": True}
SIDEWAYS = "document.documentElement.scrollWidth > document.documentElement.clientWidth"


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    binary = find_chromium()
    if binary is None:
        pytest.skip("no chromium installed: the web page tests need a headless Chromium")
    async with Browser.launch(binary) as running, running.page() as tab:
        yield tab
        assert tab.errors == [], tab.errors  # no uncaught exception, no CSP violation


async def _click(page: Page, selector: str) -> None:
    await page.evaluate(f"document.querySelector({json.dumps(selector)}).click()")


async def _two_pending(
    http: aiohttp.ClientSession, network: NodeNetwork, node: RunningNode, blog: Blog
) -> str:
    course, _ = await course_with_task(http, network, node)
    for feed in ("/rss.xml", "/atom.xml"):
        await join(http, network, node, course, blog.base + feed, node.did)
    summary = await harvest_now(http, network, node, course)
    assert len(summary["new"]) == 2, summary
    return course


async def test_the_review_page_awards_and_declines_with_the_admin_token(
    node_network: NodeNetwork, http: aiohttp.ClientSession, site: Blog, page: Page
) -> None:
    (node,) = await node_network.start(1)
    course = await _two_pending(http, node_network, node, site)
    await page.goto(f"{node.gateway_url}/review", READY)
    assert "admin token" in await page.evaluate(
        "document.getElementById('review-status').textContent"
    )
    assert await _axe_problems(page) == []

    await page.type_into("#token-input", "wrong-token")
    await page.press_enter()
    await page.wait_for("!document.getElementById('review-error').hidden")
    assert "401" in await page.evaluate("document.getElementById('review-error').textContent") or (
        "token" in await page.evaluate("document.getElementById('review-error').textContent")
    )

    await page.type_into("#token-input", ADMIN_TOKEN)
    await page.press_enter()
    await page.wait_for("document.querySelectorAll('#submissions li').length === 2")
    assert await page.evaluate("sessionStorage.getItem('badgechain-admin-token')") == ADMIN_TOKEN
    assert await page.evaluate("document.getElementById('token-input').value") == ""
    assert await _axe_problems(page) == []
    titles = await page.evaluate(
        "[...document.querySelectorAll('.submission-title')].map(e => e.textContent)"
    )
    assert sorted(titles) == ["My first post #ds106", "Second post"]
    await page.call("Emulation.setDeviceMetricsOverride", **PHONE)
    assert not await page.evaluate(SIDEWAYS)  # the list with its buttons fits a phone

    first, second = "#submissions li:nth-child(1)", "#submissions li:nth-child(2)"
    await _click(page, f"{first} button.award")
    await page.wait_for(f"document.querySelector('{first}').dataset.state === 'awarded'")
    assert await page.evaluate(f"!!document.querySelector('{first} a.badge-link')")

    await _click(page, f"{second} button.decline")  # no reason: refused on the page
    assert "reason" in await page.evaluate(
        f"document.querySelector('{second} .outcome').textContent"
    )
    await page.type_into(f"{second} input.reason", "Not about the task")
    await _click(page, f"{second} button.decline")
    await page.wait_for(f"document.querySelector('{second}').dataset.state === 'declined'")
    assert "Nothing waits" in await page.evaluate(
        "document.getElementById('review-status').textContent"
    )
    assert await _axe_problems(page) == []

    _, listed = await call(http, node_network, node, "GET", f"/admin/courses/{course}/submissions")
    states = sorted(item["state"] for item in listed["submissions"])
    assert states == ["awarded", "declined"]
    declined = next(s for s in listed["submissions"] if s["state"] == "declined")
    assert declined["reason"] == "Not about the task"


async def test_the_course_page_registers_a_participant(
    node_network: NodeNetwork, http: aiohttp.ClientSession, site: Blog, page: Page
) -> None:
    (node,) = await node_network.start(1)
    course, _ = await course_with_task(http, node_network, node)
    await page.goto(f"{node.gateway_url}/courses/{course}", READY)
    assert await page.evaluate("document.getElementById('course-title').textContent") == "DS106"
    assert "#ds106" in await page.evaluate("document.getElementById('course-tasks').textContent")
    assert await _axe_problems(page) == []

    await page.type_into("#join-feed", site.base + "/rss.xml")
    await page.type_into("#join-identity", "ann@example.org")
    await _click(page, "#join-form button[type=submit]")
    await page.wait_for("!document.getElementById('join-done').hidden")
    await page.type_into("#join-feed", site.base + "/rss.xml")  # the same feed again
    await page.type_into("#join-identity", node.did)
    await _click(page, "#join-form button[type=submit]")
    await page.wait_for("!document.getElementById('join-error').hidden")
    error = await page.evaluate("document.getElementById('join-error').textContent")
    assert "participant_exists" in error
    assert await _axe_problems(page) == []

    _, shown = await call(http, node_network, node, "GET", f"/admin/courses/{course}")
    assert [p["email"] for p in shown["participants"]] == ["ann@example.org"]

    # At phone width neither page scrolls sideways.
    await page.call("Emulation.setDeviceMetricsOverride", **PHONE)
    for path in (f"/courses/{course}", "/review"):
        await page.goto(node.gateway_url + path, READY)
        assert not await page.evaluate(SIDEWAYS), path


async def test_public_registration_is_rate_limited_and_checked(
    node_network: NodeNetwork, http: aiohttp.ClientSession, site: Blog
) -> None:
    (node,) = await node_network.start(1)
    course, _ = await course_with_task(http, node_network, node)
    url = f"{node.gateway_url}/courses/{course}/participants"

    async def register(body: Json) -> tuple[int, Json, str | None]:
        async with http.post(url, json=body) as answer:  # no admin token: public
            return (
                answer.status,
                await answer.json(content_type=None),
                answer.headers.get("Retry-After"),
            )

    status, problem, _ = await register({"feed": "ftp://x.example/feed", "email": "a@b.example"})
    assert status == 400, problem
    allowed = REGISTRATIONS.per_key  # a refused one is not counted
    for n in range(allowed):
        status, joined, _ = await register({"feed": f"{site.base}/rss.xml?{n}", "did": node.did})
        assert status == 201 and set(joined) == {"id", "course"}, joined
    status, problem, retry_after = await register({"feed": f"{site.base}/x", "did": node.did})
    assert status == 429 and problem["code"] == "registration_rate_limited"
    assert retry_after is not None and int(retry_after) > 0
    async with http.get(f"{node.gateway_url}/courses/nope000000x") as answer:
        assert answer.status == 404
    async with http.get(f"{node.gateway_url}/courses/{course}/about") as answer:
        about = await answer.json()
    assert about["tasks"] == [{"name": "Made a thing", "hashtag": "ds106"}]
    assert "participants" not in about


async def test_the_completion_badge_comes_once_every_task_is_awarded(
    node_network: NodeNetwork, http: aiohttp.ClientSession, site: Blog
) -> None:
    (node,) = await node_network.start(1)
    course, _ = await course_with_task(http, node_network, node)
    second_task = {"name": "Wrote", "description": "D", "criteria": "C", "hashtag": "ds107"}
    status, _ = await call(
        http, node_network, node, "POST", f"/admin/courses/{course}/tasks", second_task
    )
    assert status == 201
    completion = {"name": "DS106 done", "description": "All of it", "criteria": "Every task"}
    path = f"/admin/courses/{course}/completion"
    status, made = await call(http, node_network, node, "POST", path, completion)
    assert status == 201 and made["name"] == "DS106 done", made
    status, again = await call(http, node_network, node, "POST", path, completion)
    assert status == 409 and again["code"] == "completion_exists"

    site.title = "A post for both #ds106 #ds107"
    await join(http, node_network, node, course, site.base + "/rss.xml", node.did)
    summary = await harvest_now(http, node_network, node, course)
    first, second = summary["new"]
    _, awarded = await call(http, node_network, node, "POST", f"/admin/submissions/{first}/award")
    assert awarded["state"] == "awarded" and "completion_uid" not in awarded, awarded
    _, awarded = await call(http, node_network, node, "POST", f"/admin/submissions/{second}/award")
    uid = awarded["completion_uid"]
    async with http.get(f"{node.gateway_url}/badges/{uid}.json") as answer:
        badge = await answer.json(content_type=None)
    assert badge["credentialSubject"]["achievement"]["name"] == "DS106 done"
    assert [item["id"] for item in badge["evidence"]] == [f"{site.base}/posts/1"]
    assert list(course_review.completed(node, course).values()) == [uid]
    await harvest_now(http, node_network, node, course)  # its re-check issues nothing more
    assert list(course_review.completed(node, course).values()) == [uid]


async def test_a_post_linking_to_a_badge_shows_on_the_badge_page_as_a_mention(
    node_network: NodeNetwork, http: aiohttp.ClientSession, site: Blog, page: Page
) -> None:
    """Issue 15 item 4: a participant's post that links to their badge (a Webmention, its
    source fetched and the link found) is listed on the badge's page of the web UI."""
    (node,) = await node_network.start(1)
    course = await _two_pending(http, node_network, node, site)
    _, listed = await call(http, node_network, node, "GET", f"/admin/courses/{course}/submissions")
    path = f"/admin/submissions/{listed['pending'][0]['id']}/award"
    _, awarded = await call(http, node_network, node, "POST", path)
    uid = awarded["uid"]
    await page.goto(f"{node.gateway_url}/#/badge/{uid}", READY)
    await page.wait_for("!!document.getElementById('endorsements-title')")
    assert await page.evaluate("document.getElementById('mentions') === null")  # none yet

    source = f"{site.base}/page?links={node.gateway_url}/badges/{uid}"
    form = {"source": source, "target": f"{node.gateway_url}/badges/{uid}"}
    async with http.post(f"{node.gateway_url}/webmention", data=form) as answer:
        assert answer.status == 202
        status_url = answer.headers["Location"]

    async def verified() -> bool:
        async with http.get(status_url) as answer:
            return bool((await answer.json())["state"] == "verified")

    await eventually(verified, 15)
    await page.call("Page.reload")
    await page.wait_for("document.querySelectorAll('#mentions a.mention-link').length === 1")
    link = await page.evaluate(
        "(a => [a.href, a.rel])(document.querySelector('#mentions a.mention-link'))"
    )
    assert link == [source, "ugc nofollow noopener noreferrer"]
    assert await _axe_problems(page) == []
