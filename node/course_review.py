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
from badgechain.storage import Kind

from . import courses, harvest, issuer, webmention
from .course_records import CourseRecord, Participant, Submission
from .courses import CourseError
from .issuer import Recipient
from .services import Services

__all__ = ["award", "completed", "decline", "pending", "run_requested_harvest"]

log = logging.getLogger(__name__)
MAX_REASON_CHARS = 2000


def pending(node: Services, course_id: str) -> list[dict[str, Any]]:
    """The submissions waiting for review, with the participant and task named."""
    course = courses.load_course(node.store, course_id)
    tasks = {task["id"]: task for task in course.all_tasks()}
    people = {p.id: p for p in courses.list_participants(node.store, course_id)}
    listed = []
    for submission in courses.list_submissions(node.store, course_id, "pending"):
        participant = people.get(submission.participant)
        named = None if participant is None else participant.did or participant.email
        task = tasks.get(submission.task or "")
        listed.append(
            submission.to_json()
            | {
                "participant_name": named,
                "task_name": None if task is None else task["name"],
                "hashtag": None if task is None else task["hashtag"],
            }
        )
    return listed


def _open(node: Services, submission_id: str) -> Submission:
    submission = courses.load_submission(node.store, submission_id)
    if submission.state != "pending":
        raise CourseError(
            f"submission {submission_id!r:.40} is {submission.state} already",
            code="submission_closed",
        )
    return submission


async def award(node: Services, submission_id: str, *, auto: bool = False) -> dict[str, Any]:
    """Issue the task's badge for a pending submission; returns the submission, awarded."""
    submission = _open(node, submission_id)
    course = courses.load_course(node.store, submission.course or "")
    task = course.task(submission.task or "")
    if task is None:
        raise CourseError("the submission's task is gone", code="task_not_found")
    participant_id = submission.participant or ""
    participant = courses.load_participant(node.store, course.key_id, participant_id)
    link = submission.web_link()
    evidence = () if link is None else (link,)
    recipient = Recipient(participant.did, participant.email, None, evidence)
    result = await issuer.issue_badge(node, task["class_id"], recipient)
    awarded = submission.with_members(
        state="awarded",
        uid=uid_text(result.uid),
        reviewed=format_created(node.clock()),
        auto=auto,
    )
    courses.save_submission(node.store, awarded)
    if link is not None:
        webmention.queue_send(node, result.uid, link)
    log.info("course submission awarded", extra={"submission": submission_id, "auto": auto})
    shown = awarded.to_json()
    try:
        completion = await _complete_if_done(node, course, participant)
    except BadgeChainError as exc:  # the task's badge stands; a later harvest tries again
        log.warning("completion badge failed", extra={"code": exc.code})
        return shown | {"completion_error": {"code": exc.code, "message": exc.message}}
    return shown if completion is None else shown | {"completion_uid": completion}


async def _complete_if_done(
    node: Services, course: CourseRecord, participant: Participant
) -> str | None:
    """Issue the course's completion badge once the participant holds every task's badge
    (its evidence: the posts that earned them); the UID, or None when not (yet) due. The
    mark is written before the await, so two awards finishing together issue one badge."""
    completion, tasks = course.completion, course.all_tasks()
    key = courses.completion_key(course.key_id, participant.key_id)
    if not completion or not tasks or node.store.get(Kind.JOURNAL, key) is not None:
        return None
    awarded = [
        s
        for s in courses.list_submissions(node.store, course.key_id, "awarded")
        if s.participant == participant.id
    ]
    if {task["id"] for task in tasks} - {s.task for s in awarded}:
        return None
    node.store.put(Kind.JOURNAL, key, b"")  # issuing
    links = {link for s in awarded if (link := s.web_link()) is not None}
    recipient = Recipient(participant.did, participant.email, None, tuple(sorted(links)))
    try:
        result = await issuer.issue_badge(node, completion["class_id"], recipient)
    except BadgeChainError:
        node.store.delete(Kind.JOURNAL, key)  # the next award (or a retry) tries again
        raise
    uid = uid_text(result.uid)
    node.store.put(Kind.JOURNAL, key, uid.encode())
    log.info("course completed", extra={"course": course.key_id})
    return uid


def completed(node: Services, course_id: str) -> dict[str, str]:
    """Participant id → their completion badge's UID ("" while it is being issued)."""
    prefix = courses.DONE_PREFIX + course_id.encode() + b"/"
    scanned = node.store.scan(Kind.JOURNAL, prefix, limit=courses.MAX_PARTICIPANTS)
    return {key[len(prefix) :].decode(): value.decode() for key, value in scanned}


async def auto_award(node: Services, submission: Submission) -> None:
    """The harvest's hook for an auto-award task: awarded at once, logged like any award.
    An award that fails (the DHT away) leaves the submission pending, saying why, for
    review: the harvest goes on."""
    try:
        await award(node, submission.key_id, auto=True)
    except BadgeChainError as exc:
        log.warning("auto-award failed; left for review", extra={"code": exc.code})
        failed = {"code": exc.code, "message": exc.message}
        pending = courses.load_submission(node.store, submission.key_id)
        courses.save_submission(node.store, pending.with_members(auto_error=failed))


def decline(node: Services, submission_id: str, reason: str) -> dict[str, Any]:
    submission = _open(node, submission_id)
    if not reason or len(reason) > MAX_REASON_CHARS:
        raise CourseError(
            f"a reason is text of 1 to {MAX_REASON_CHARS} chars", code="reason_invalid"
        )
    declined = submission.with_members(
        state="declined", reason=reason, reviewed=format_created(node.clock())
    )
    courses.save_submission(node.store, declined)
    return declined.to_json()


async def run_requested_harvest(node: Services, key: bytes) -> bool:
    """The work queue's handler of an asked-for harvest (topic harvest-now); a completion
    badge whose issuing failed before is tried again here."""
    course_id = key.decode(errors="replace")
    await harvest.run_requested(node, course_id, auto_award)
    try:
        course = courses.load_course(node.store, course_id)
    except CourseError:
        return True
    for participant in courses.list_participants(node.store, course_id):
        try:
            await _complete_if_done(node, course, participant)
        except BadgeChainError as exc:
            log.warning("completion badge failed", extra={"code": exc.code})
    return True
