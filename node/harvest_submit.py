"""A harvested entry that carries a task's hashtag becomes a submission, once per (entry,
task); a later harvest that finds the entry changed records the edit (node/harvest.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from badgechain.chain.proof import format_created
from badgechain.storage import Kind

from . import courses
from .course_records import CourseRecord, CourseTask, Participant, Submission
from .harvest_parse import FeedEntry
from .services import Services

__all__ = ["MAX_EXCERPT_CHARS", "Submit", "submit_entry"]

MAX_EXCERPT_CHARS: Final = 500
# Called with each new submission: the review step's auto-award (node/course_review.py).
Submit = Callable[[Services, Submission], Awaitable[None]]


async def submit_entry(
    node: Services,
    course: CourseRecord,
    participant: Participant,
    task: CourseTask,
    entry: FeedEntry,
    summary: dict[str, Any],
    submit: Submit,
) -> None:
    """A new submission for (entry, task), or the known one updated when the entry changed."""
    course_id = course.key_id
    key = courses.entry_key(course_id, participant.key_id, f"{task['id']}\x00{entry.entry_id}")
    known = node.store.get(Kind.JOURNAL, key)
    if known is not None:
        submission = courses.load_submission(node.store, known.decode())
        if submission.digest != entry.digest:
            _note_edit(node, submission, entry)
            summary["edited"].append(submission.id)
        return
    submission = Submission(
        id=courses.new_submission_id(course_id),
        course=course_id,
        task=task["id"],
        participant=participant.key_id,
        state="pending",
        found=format_created(node.clock()),
        **_entry_fields(entry),
    )
    with node.store.batch() as batch:
        batch.put(Kind.JOURNAL, key, submission.key_id.encode())
        batch.put(Kind.JOURNAL, courses.submission_key(submission.key_id), submission.to_bytes())
    summary["new"].append(submission.id)
    if task.get("auto_award"):
        await submit(node, submission)


def _entry_fields(entry: FeedEntry) -> dict[str, Any]:
    return {
        "entry": entry.entry_id,
        "link": entry.link,
        "title": entry.title,
        "excerpt": entry.text[:MAX_EXCERPT_CHARS],
        "digest": entry.digest,
    }


def _note_edit(node: Services, submission: Submission, entry: FeedEntry) -> None:
    """A pending submission takes the edit; an awarded or declined one records that it was
    edited afterwards (its badge's evidence is the post's URL, which still names it)."""
    edited = format_created(node.clock())
    if submission.state == "pending":
        changed = submission.with_members(**_entry_fields(entry), edited=edited)
    else:
        changed = submission.with_members(
            digest=entry.digest, edited_after_review=True, edited=edited
        )
    courses.save_submission(node.store, changed)
