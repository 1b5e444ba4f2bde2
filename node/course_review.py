"""Reviewing a course's submissions (issue 15 item 3): award one (its task's badge, with the
post's URL as evidence, through the normal issuing pipeline) or decline it with a reason.
An award queues a Webmention from the badge to the post (node/webmention.py).
"""

from __future__ import annotations

import logging
from typing import Any

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.proof import format_created
from badgechain.chain.uid import uid_text

from . import courses, harvest, issuer, webmention
from .courses import CourseError
from .issuer import Recipient
from .services import Services

__all__ = ["award", "decline", "pending", "run_requested_harvest"]

log = logging.getLogger(__name__)
MAX_REASON_CHARS = 2000


def pending(node: Services, course_id: str) -> list[dict[str, Any]]:
    """The submissions waiting for review, with the participant and task named."""
    course = courses.load_course(node.store, course_id)
    tasks = {task["id"]: task for task in course["tasks"]}
    people = {p["id"]: p for p in courses.list_participants(node.store, course_id)}
    listed = []
    for submission in courses.list_submissions(node.store, course_id, "pending"):
        participant = people.get(submission["participant"], {})
        task = tasks.get(submission["task"], {})
        listed.append(
            submission
            | {
                "participant_name": participant.get("did") or participant.get("email"),
                "task_name": task.get("name"),
                "hashtag": task.get("hashtag"),
            }
        )
    return listed


def _open(node: Services, submission_id: str) -> dict[str, Any]:
    submission = courses.load_submission(node.store, submission_id)
    if submission["state"] != "pending":
        raise CourseError(
            f"submission {submission_id!r:.40} is {submission['state']} already",
            code="submission_closed",
        )
    return submission


async def award(node: Services, submission_id: str, *, auto: bool = False) -> dict[str, Any]:
    """Issue the task's badge for a pending submission; returns the submission, awarded."""
    submission = _open(node, submission_id)
    course = courses.load_course(node.store, submission["course"])
    task = next((t for t in course["tasks"] if t["id"] == submission["task"]), None)
    if task is None:
        raise CourseError("the submission's task is gone", code="task_not_found")
    participant = courses.load_participant(node.store, course["id"], submission["participant"])
    evidence = (
        (submission["link"],) if submission["link"].startswith(("http://", "https://")) else ()
    )
    recipient = Recipient(participant["did"], participant["email"], None, evidence)
    result = await issuer.issue_badge(node, task["class_id"], recipient)
    awarded = submission | {
        "state": "awarded",
        "uid": uid_text(result.uid),
        "reviewed": format_created(node.clock()),
        "auto": auto,
    }
    courses.save_submission(node.store, awarded)
    if evidence:
        webmention.queue_send(node, result.uid, submission["link"])
    log.info("course submission awarded", extra={"submission": submission_id, "auto": auto})
    return awarded


async def auto_award(node: Services, submission: dict[str, Any]) -> None:
    """The harvest's hook for an auto-award task: awarded at once, logged like any award.
    An award that fails (the DHT away) leaves the submission pending, saying why, for
    review: the harvest goes on."""
    try:
        await award(node, submission["id"], auto=True)
    except BadgeChainError as exc:
        log.warning("auto-award failed; left for review", extra={"code": exc.code})
        failed = {"auto_error": {"code": exc.code, "message": exc.message}}
        pending = courses.load_submission(node.store, submission["id"])
        courses.save_submission(node.store, pending | failed)


def decline(node: Services, submission_id: str, reason: str) -> dict[str, Any]:
    submission = _open(node, submission_id)
    if not reason or len(reason) > MAX_REASON_CHARS:
        raise CourseError(
            f"a reason is text of 1 to {MAX_REASON_CHARS} chars", code="reason_invalid"
        )
    declined = submission | {
        "state": "declined",
        "reason": reason,
        "reviewed": format_created(node.clock()),
    }
    courses.save_submission(node.store, declined)
    return declined


async def run_requested_harvest(node: Services, key: bytes) -> bool:
    """The work queue's handler of an asked-for harvest (topic harvest-now)."""
    await harvest.run_requested(node, key.decode(errors="replace"), auto_award)
    return True
