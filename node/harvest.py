"""Harvesting a course's feeds (issue 15 item 2): each participant's RSS 2.0, Atom or JSON
Feed is fetched (harvest_fetch.py: conditionally, bounded, through the node's outbound
rules), its entries read (harvest_parse.py), and an entry tagged with a task's hashtag
becomes a submission, once (harvest_submit.py). This module is the schedule: harvests asked
for and their records, and one harvest of a course's feeds, a few at a time.
Each feed's last answer (ETag, Last-Modified, error) is kept on its participant.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, Final
from urllib.parse import urljoin

import aiohttp

from badgechain.chain.proof import format_created
from badgechain.storage import Kind

from . import courses
from .course_limits import HARVESTS, RateLimited
from .course_records import CourseRecord, Participant
from .courses import CourseError
from .harvest_fetch import FeedError, fetch_feed
from .harvest_parse import matching_tasks, parse_feed
from .harvest_submit import Submit, submit_entry
from .records import HarvestRun
from .services import Services

__all__ = [
    "HARVEST_NOW_TOPIC",
    "HARVEST_TOPIC",
    "harvest_course",
    "last_harvest",
    "request_harvest",
    "run_requested",
]

HARVEST_TOPIC: Final = "harvest"
HARVEST_NOW_TOPIC: Final = "harvest-now"  # a harvest asked for (POST .../harvest), once
RUN_PREFIX: Final = b"course/h/"  # course/h/<course id> → the last asked-for harvest
PARALLEL_FEEDS: Final = 8  # feeds read at once: a slow blog holds back no other


# --- harvests asked for -------------------------------------------------------------------


def read_run(raw: bytes) -> HarvestRun:
    """A stored run, to be written back as the node has always written it: unescaped."""
    return dataclasses.replace(HarvestRun.from_bytes(raw), escaped=False)


def request_harvest(node: Services, course_id: str) -> dict[str, Any]:
    """Queue a harvest of the course now; one already waiting is the answer (asking twice
    harvests once). Returns its record: {"id", "course", "state": "queued", "requested"}.
    RateLimited (`harvest_rate_limited`) past HARVESTS' new harvests of a course, or in all."""
    courses.load_course(node.store, course_id)
    key = RUN_PREFIX + course_id.encode()
    raw = node.store.get(Kind.JOURNAL, key)
    if raw is not None and (waiting := read_run(raw)).state == "queued":
        node.enqueue(HARVEST_NOW_TOPIC, course_id.encode())  # a no-op unless it was lost
        return waiting.to_json()
    wait = HARVESTS.check(node.store, course_id, node.clock().timestamp())
    if wait is not None:
        raise RateLimited(
            "this course was harvested on demand often of late; try again later",
            code="harvest_rate_limited",
            retry_after_s=wait,
        )
    run = HarvestRun(
        id=courses.new_id(),
        course=course_id,
        state="queued",
        requested=format_created(node.clock()),
    )
    node.store.put(Kind.JOURNAL, key, run.to_bytes())
    node.enqueue(HARVEST_NOW_TOPIC, course_id.encode())
    return run.to_json()


def last_harvest(node: Services, course_id: str) -> dict[str, Any]:
    """The last asked-for harvest: queued, running, or done with its summary."""
    raw = node.store.get(Kind.JOURNAL, RUN_PREFIX + course_id.encode()[:64])
    if raw is None:
        raise CourseError(
            f"no harvest of {course_id!r:.40} was asked for", code="harvest_not_found"
        )
    return read_run(raw).to_json()


async def run_requested(node: Services, course_id: str, submit: Submit) -> None:
    """Run the asked-for harvest (the queue's handler calls this): its record says running,
    then done with the summary (or the error, for a course gone)."""
    key = RUN_PREFIX + course_id.encode()
    raw = node.store.get(Kind.JOURNAL, key)
    if raw is None:
        return
    run = read_run(raw).with_members(state="running", started=format_created(node.clock()))
    node.store.put(Kind.JOURNAL, key, run.to_bytes())
    try:
        run = run.with_members(summary=await harvest_course(node, course_id, submit))
    except CourseError as exc:
        run = run.with_members(error={"code": exc.code, "message": exc.message})
    run = run.with_members(state="done", finished=format_created(node.clock()))
    node.store.put(Kind.JOURNAL, key, run.to_bytes())


# --- harvesting ----------------------------------------------------------------------------


async def harvest_course(node: Services, course_id: str, submit: Submit) -> dict[str, Any]:
    """Read every participant's feed once; `submit` is called for each new submission (the
    review step's auto-award). Returns counts and each failing feed's error."""
    course = courses.load_course(node.store, course_id)
    summary: dict[str, Any] = {
        "course": course_id,
        "feeds": 0,
        "new": [],
        "edited": [],
        "errors": {},
    }
    participants = courses.list_participants(node.store, course_id)
    summary["feeds"] = len(participants)
    slots = asyncio.Semaphore(PARALLEL_FEEDS)

    async def one(participant: Participant) -> None:
        async with slots:
            try:
                await _harvest_feed(node, session, course, participant, summary, submit)
            except FeedError as exc:
                error = {"code": exc.code, "message": exc.message}
                summary["errors"][participant.id] = error
                _feed_state(node, participant, error=error)

    async with node.outbound.session() as session:
        await asyncio.gather(*(one(participant) for participant in participants))
    return summary


async def _harvest_feed(
    node: Services,
    session: aiohttp.ClientSession,
    course: CourseRecord,
    participant: Participant,
    summary: dict[str, Any],
    submit: Submit,
) -> None:
    state, feed = participant.state(), participant.feed or ""
    fetched = await fetch_feed(
        session,
        feed,
        state["etag"],
        state["modified"],
        timeout_s=node.settings.feed_timeout_s,
    )
    if fetched.body is not None:  # parsed in a thread: up to 1 MiB of XML holds no loop
        entries = await asyncio.to_thread(parse_feed, fetched.body, fetched.content_type)
        for parsed in entries:  # a relative link is relative to the feed
            entry = dataclasses.replace(parsed, link=urljoin(feed, parsed.link))
            for task in matching_tasks(entry, course.all_tasks()):
                await submit_entry(node, course, participant, task, entry, summary, submit)
    # A 304 need not repeat the validators (RFC 9110 §15.4.5): keep those it leaves out.
    etag, modified = fetched.etag or state["etag"], fetched.modified or state["modified"]
    _feed_state(node, participant, error=None, etag=etag, modified=modified)


def _feed_state(node: Services, participant: Participant, **changes: Any) -> None:
    checked = format_created(node.clock())
    courses.save_participant(node.store, participant.with_feed_state(**changes, checked=checked))
