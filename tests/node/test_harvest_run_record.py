"""A course's harvest run is a typed record (node/records.py `HarvestRun`, issue 11 item 2)
whose bytes are those the node wrote before it had the type: the same members in the same
order, unescaped, through queued → running → done."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from badgechain.node.harvest import read_run
from badgechain.node.records import HarvestRun


def _old_dump(value: dict[str, Any]) -> bytes:
    """How node/courses.py `dump` wrote a run before the type."""
    return json.dumps(value, ensure_ascii=False).encode()


_TEXT = st.text(max_size=20)
_SUMMARY = st.dictionaries(st.sampled_from(["course", "feeds", "new", "errors"]), _TEXT)


@given(
    requested=_TEXT,
    started=_TEXT,
    finished=_TEXT,
    summary=_SUMMARY,
    failed=st.booleans(),
    message=_TEXT,
)
def test_a_run_is_written_as_before_at_every_step(
    requested: str, started: str, finished: str, summary: dict[str, str], failed: bool, message: str
) -> None:
    queued: dict[str, Any] = {"id": "r1", "course": "c1", "state": "queued", "requested": requested}
    # The code before the type: dict merges, then member assignments.
    old_running = queued | {"state": "running", "started": started}
    old_done = dict(old_running)
    if failed:
        old_done["error"] = {"code": "course_not_found", "message": message}
    else:
        old_done["summary"] = summary
    old_done |= {"state": "done", "finished": finished}

    made = HarvestRun(id="r1", course="c1", state="queued", requested=requested)
    assert made.to_bytes() == _old_dump(queued)
    running = read_run(_old_dump(queued)).with_members(state="running", started=started)
    assert running.to_bytes() == _old_dump(old_running)
    ended = (
        running.with_members(error={"code": "course_not_found", "message": message})
        if failed
        else running.with_members(summary=summary)
    )
    done = ended.with_members(state="done", finished=finished)
    assert done.to_bytes() == _old_dump(old_done)
    assert read_run(_old_dump(old_done)).to_json() == old_done


def test_members_it_does_not_know_are_kept_in_place() -> None:
    stored = _old_dump({"id": "r", "note": "kept", "state": 3, "course": "c"})
    run = read_run(stored)
    assert run.state is None and run.get("state") == 3  # a wrong type is kept as it was
    assert run.to_bytes() == stored
    assert run.with_members(state="running").to_json() == {
        "id": "r",
        "note": "kept",
        "state": "running",
        "course": "c",
    }
