"""A course and a participant are typed records (node/course_records.py, issue 11 item 2)
whose bytes are those node/courses.py wrote before the types: the same members in the same
order, never escaped, through each change the node makes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from badgechain.node.course_records import CourseRecord, CourseTask, Participant, Submission


def _old_dump(value: dict[str, Any]) -> bytes:
    """How node/courses.py `dump` wrote a record before the types."""
    return json.dumps(value, ensure_ascii=False).encode()


_TEXT = st.text(max_size=12)
_TASK = st.builds(
    lambda task_id, name, tag, auto: {
        "id": task_id,
        "class_id": "c" + task_id,
        "name": name,
        "hashtag": tag,
        "auto_award": auto,
    },
    _TEXT,
    _TEXT,
    _TEXT,
    st.booleans(),
)


@given(
    name=_TEXT,
    description=_TEXT,
    created=_TEXT,
    tasks=st.lists(_TASK, max_size=3),
    completion=st.none() | _TEXT,
)
def test_a_course_is_written_as_before_at_every_step(
    name: str,
    description: str,
    created: str,
    tasks: list[CourseTask],
    completion: str | None,
) -> None:
    old: dict[str, Any] = {
        "id": "c1",
        "name": name,
        "description": description,
        "created": created,
        "tasks": [],
    }
    made = CourseRecord(id="c1", name=name, description=description, created=created, tasks=())
    assert made.to_bytes() == _old_dump(old)
    stored = made.to_bytes()
    for task in tasks:  # the code before the types: load, append, dump
        old = json.loads(_old_dump(old))
        old["tasks"].append(task)
        course = CourseRecord.from_bytes(stored)
        stored = course.with_members(tasks=(*course.all_tasks(), task)).to_bytes()
        assert stored == _old_dump(old)
    if completion is not None:
        old["completion"] = {"class_id": "k", "name": completion}
        course = CourseRecord.from_bytes(stored)
        stored = course.with_members(completion={"class_id": "k", "name": completion}).to_bytes()
        assert stored == _old_dump(old)
    read = CourseRecord.from_bytes(stored)
    assert read.to_json() == old and read.to_bytes() == stored
    assert [task["hashtag"] for task in read.all_tasks()] == [t["hashtag"] for t in tasks]


def test_an_escaped_course_is_rewritten_unescaped_as_before() -> None:
    old = {"id": "c", "note": 1, "name": "é", "tasks": "odd"}
    escaped = json.dumps(old).encode()
    course = CourseRecord.from_bytes(escaped)
    assert course.to_bytes() == _old_dump(old)  # the old code: dump(loads(raw))
    assert course.all_tasks() == () and course.get("tasks") == "odd"
    task: CourseTask = {
        "id": "t",
        "class_id": "k",
        "name": "n",
        "hashtag": "h",
        "auto_award": False,
    }
    changed = course.with_members(tasks=(task,), completion={"class_id": "k2", "name": "ü"})
    assert changed.to_bytes() == _old_dump(
        old | {"tasks": [task], "completion": {"class_id": "k2", "name": "ü"}}
    )


_NULLABLE = st.none() | _TEXT


@given(
    did=_NULLABLE,
    email=_NULLABLE,
    joined=_TEXT,
    etag=_NULLABLE,
    modified=_NULLABLE,
    checked=_TEXT,
    failed=st.booleans(),
)
def test_a_participant_is_written_as_before_through_a_harvest(
    did: str | None,
    email: str | None,
    joined: str,
    etag: str | None,
    modified: str | None,
    checked: str,
    failed: bool,
) -> None:
    old: dict[str, Any] = {
        "id": "p1",
        "course": "c1",
        "feed": "https://example.org/feed",
        "did": did,
        "email": email,
        "joined": joined,
        "feed_state": {"etag": None, "modified": None, "error": None, "checked": None},
    }
    stored = _old_dump(old)
    made = Participant.joining(
        id="p1", course="c1", feed=old["feed"], did=did, email=email, joined=joined
    )
    assert made.to_bytes() == stored
    participant = Participant.from_bytes(stored)
    assert participant.to_bytes() == stored
    assert (participant.did, participant.email) == (did, email)
    assert participant.state() == old["feed_state"]
    # The code before the types: the feed's state merged with the harvest's changes.
    error = {"code": "feed_unreachable", "message": "x"}
    changes = {"error": error} if failed else {"error": None, "etag": etag, "modified": modified}
    state = old["feed_state"] | changes | {"checked": checked}
    new = participant.with_feed_state(**changes, checked=checked)
    assert new.to_bytes() == _old_dump(old | {"feed_state": state})
    assert Participant.from_bytes(new.to_bytes()).state() == state


_ENTRY = st.builds(  # in the order node/harvest_submit.py `_entry_fields` gives them
    lambda entry, link, title, excerpt, digest: {
        "entry": entry,
        "link": link,
        "title": title,
        "excerpt": excerpt,
        "digest": digest,
    },
    _TEXT,
    _TEXT | st.just("https://example.org/p"),
    _TEXT,
    _TEXT,
    _TEXT,
)


@given(
    entry=_ENTRY,
    edits=st.lists(_ENTRY, max_size=2),
    auto_failed=st.booleans(),
    outcome=st.sampled_from(["awarded", "declined", "pending"]),
    auto=st.booleans(),
    late_edits=st.lists(_TEXT, max_size=2),
    at=_TEXT,
)
def test_a_submission_is_written_as_before_through_its_review(
    entry: dict[str, Any],
    edits: list[dict[str, str]],
    auto_failed: bool,
    outcome: str,
    auto: bool,
    late_edits: list[str],
    at: str,
) -> None:
    """Each step as node/harvest_submit.py and node/course_review.py did it with dicts
    (`old | changes`), against the same step through the record."""
    old: dict[str, Any] = {
        "id": "c1s1",
        "course": "c1",
        "task": "t1",
        "participant": "p1",
        "state": "pending",
        "found": at,
        **entry,
    }
    record = Submission(
        id="c1s1", course="c1", task="t1", participant="p1", state="pending", found=at, **entry
    )
    assert record.to_bytes() == _old_dump(old)

    def step(changes: dict[str, Any]) -> None:
        nonlocal old, record
        old = json.loads(_old_dump(old)) | changes
        record = Submission.from_bytes(record.to_bytes()).with_members(**changes)
        assert record.to_bytes() == _old_dump(old)

    for edit in edits:  # a pending submission takes its entry's edit
        step(edit | {"edited": at})
    if auto_failed:
        step({"auto_error": {"code": "dht_unreachable", "message": "é"}})
    if outcome == "awarded":
        step({"state": "awarded", "uid": "urn:bns:x", "reviewed": at, "auto": auto})
    elif outcome == "declined":
        step({"state": "declined", "reason": "ü " + at, "reviewed": at})
    if outcome != "pending":
        for digest in late_edits:  # edited after review: noted, the entry kept
            step({"digest": digest, "edited_after_review": True, "edited": at})
    read = Submission.from_bytes(_old_dump(old))
    assert read.to_json() == old and read.state == outcome


def test_a_submission_keeps_members_it_does_not_know() -> None:
    stored = _old_dump({"id": "c1s", "state": "pending", "note": "kept", "found": 5})
    read = Submission.from_bytes(stored)
    assert read.found is None and read.get("found") == 5 and read.to_bytes() == stored
    assert read.web_link() is None
    awarded = read.with_members(state="awarded", uid="u", reviewed="r", auto=False)
    assert awarded.to_json() == {
        "id": "c1s",
        "state": "awarded",
        "note": "kept",
        "found": 5,
        "uid": "u",
        "reviewed": "r",
        "auto": False,
    }
