"""A running node writes its course journal through the typed records (node/course_records.py)
exactly as node/courses.py `dump` did: every record is its own JSON re-dumped unescaped, in the
member order the dicts had, through create, tasks, completion, join, harvest, award and
decline; and the routes answer with the same members."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from badgechain.node import courses
from badgechain.storage import Kind
from tests.node.conftest import NodeNetwork
from tests.node.test_courses import Blog, _blog_app, call, course_with_task, harvest_now, join

_COURSE = ["id", "name", "description", "created", "tasks", "completion"]
_PARTICIPANT = ["id", "course", "feed", "did", "email", "joined", "feed_state"]
_FEED_STATE = ["etag", "modified", "error", "checked"]
_FOUND = ["id", "course", "task", "participant", "state", "found"]
_ENTRY = ["entry", "link", "title", "excerpt", "digest"]


@pytest.fixture
async def feeds() -> AsyncIterator[Blog]:
    """The loopback blog of tests/node/test_courses.py, served for one test."""
    state = Blog()
    runner = web.AppRunner(_blog_app(state))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield state
    finally:
        state.never.set()
        await runner.cleanup()


def _old_dump(value: Any) -> bytes:
    """How node/courses.py `dump` wrote a record before the types."""
    return json.dumps(value, ensure_ascii=False).encode()


async def test_the_course_journal_is_written_as_the_dicts_wrote_it(
    node_network: NodeNetwork, http: aiohttp.ClientSession, feeds: Blog
) -> None:
    (issuer,) = await node_network.start(1)
    course, _ = await course_with_task(http, node_network, issuer)
    status, completion = await call(
        http,
        node_network,
        issuer,
        "POST",
        f"/admin/courses/{course}/completion",
        {"name": "Été complet ✓", "description": "All of it", "criteria": "Every task"},
    )
    assert status == 201 and list(completion) == ["class_id", "name"], completion
    for feed in ("/rss.xml", "/atom.xml"):
        await join(http, node_network, issuer, course, feeds.base + feed, issuer.did)
    summary = await harvest_now(http, node_network, issuer, course)
    first, second = sorted(summary["new"])
    status, awarded = await call(
        http, node_network, issuer, "POST", f"/admin/submissions/{first}/award"
    )
    assert status == 201, awarded
    status, declined = await call(
        http,
        node_network,
        issuer,
        "POST",
        f"/admin/submissions/{second}/decline",
        {"reason": "pas encore — à refaire"},
    )
    assert status == 200, declined

    stored = dict(issuer.store.scan(Kind.JOURNAL, b"course/"))
    for raw in stored.values():  # `dump` wrote every record: re-dumped unescaped, it is itself
        if raw.startswith(b"{"):
            assert raw == _old_dump(json.loads(raw)), raw
    course_raw = stored[courses.COURSE_PREFIX + course.encode()]
    assert "Été complet ✓".encode() in course_raw  # unescaped, as before
    assert list(json.loads(course_raw)) == _COURSE
    people = [json.loads(raw) for key, raw in stored.items() if key.startswith(b"course/p/")]
    assert [list(p) for p in people] == [_PARTICIPANT] * 2
    assert all(list(p["feed_state"]) == _FEED_STATE and p["email"] is None for p in people)
    made = [json.loads(raw) for key, raw in stored.items() if key.startswith(b"course/s/")]
    by_state = {item["state"]: list(item) for item in made}
    assert by_state == {
        "awarded": [*_FOUND, *_ENTRY, "uid", "reviewed", "auto"],
        "declined": [*_FOUND, *_ENTRY, "reason", "reviewed"],
    }
    assert list(awarded)[: len(by_state["awarded"])] == by_state["awarded"]
    assert list(declined) == by_state["declined"]
    _, shown = await call(http, node_network, issuer, "GET", f"/admin/courses/{course}")
    assert list(shown) == [*_COURSE, "participants", "submissions", "harvest"]
    assert shown["submissions"] == {"awarded": 1, "declined": 1}
