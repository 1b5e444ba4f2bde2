"""Courses (issue 15): tasks that are badge classes, participants who blog their work, and
the submissions a harvest finds in their feeds, reviewed and awarded through the pipeline.

Journal:
  course/c/<course id>                   → {"id", "name", "description", "created", "tasks"}
  course/p/<course id>/<participant id>  → {"id", "feed", "did", "email", "joined", "feed_state"}
  course/s/<course id>/<the rest of the submission id>   (a submission id starts with its
                 course's) → {"id", "course", "task", "participant", "entry", "link", "title",
                              "excerpt", "digest", "state", ...}
  course/e/<course id>/<participant id>/<sha256(task id, entry id)> → submission id
  course/d/<course id>/<participant id>  → the completion badge's UID ("" while issuing)

Each is a typed record (node/course_records.py), written as the plain dicts were before.
A task is {"id", "class_id", "name", "hashtag", "auto_award"}; its badge class is made by
node/classes.py, so its badges are class badges like any other. A course's optional
"completion" {"class_id", "name"} is the badge class awarded once a participant has every
task's badge.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Final

from badgechain.chain.badge import email_identity
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import public_key_from_did_key
from badgechain.chain.proof import format_created
from badgechain.storage import Kind, Store

from . import classes
from .course_records import Completion, CourseRecord, CourseTask, Participant, Submission
from .errors import NodeError
from .services import Services

__all__ = [
    "CourseError",
    "add_task",
    "check_join",
    "completion_key",
    "create_course",
    "entry_key",
    "join_course",
    "list_courses",
    "list_participants",
    "list_submissions",
    "load_course",
    "load_participant",
    "load_submission",
    "new_id",
    "new_submission_id",
    "normalize_hashtag",
    "save_participant",
    "save_submission",
    "set_completion",
    "submission_key",
]

COURSE_PREFIX: Final = b"course/c/"
PARTICIPANT_PREFIX: Final = b"course/p/"
SUBMISSION_PREFIX: Final = b"course/s/"
ENTRY_PREFIX: Final = b"course/e/"
DONE_PREFIX: Final = b"course/d/"
MAX_NAME_CHARS: Final = 200
MAX_TEXT_CHARS: Final = 10_000
MAX_TASKS: Final = 100
MAX_PARTICIPANTS: Final = 10_000
MAX_URL_CHARS: Final = 2048
_ID_CHARS: Final = 11  # of new_id(): 8 random bytes in base64url
_HASHTAG: Final = re.compile(r"#?([A-Za-z0-9_][A-Za-z0-9_-]{0,63})")
_FEED_URL: Final = re.compile(r"https?://[^\s]{1,2040}")


class CourseError(NodeError):
    """A course request the node refuses; `code` says why (404, 409 or 400)."""

    code = "course_invalid"  # its codes' statuses: node/errors.py


def _text(value: str, name: str, max_chars: int) -> str:
    if not value or len(value) > max_chars:
        raise CourseError(f"{name} must be text of 1 to {max_chars} chars", code="field_invalid")
    return value


def new_id() -> str:
    """8 random bytes in base64url (_ID_CHARS characters), never led by "-": ids are typed
    as CLI arguments, and click reads an argument that starts with "-" as an option."""
    while (made := secrets.token_urlsafe(8)).startswith("-"):
        pass
    return made


def normalize_hashtag(tag: str) -> str:
    """A hashtag without its '#', lower case: "#ds106" and "DS106" are the same tag."""
    found = _HASHTAG.fullmatch(tag.strip())
    if found is None:
        raise CourseError(
            "a hashtag is 1 to 64 letters, digits, '_' or '-' (an optional leading '#')",
            code="hashtag_invalid",
        )
    return found.group(1).lower()


# --- courses and tasks ---------------------------------------------------------------------


def create_course(node: Services, *, name: str, description: str = "") -> CourseRecord:
    if len(description) > MAX_TEXT_CHARS:
        raise CourseError(f"description is over {MAX_TEXT_CHARS} chars", code="field_invalid")
    record = CourseRecord(
        id=new_id(),
        name=_text(name, "name", MAX_NAME_CHARS),
        description=description,
        created=format_created(node.clock()),
        tasks=(),
    )
    _put_course(node.store, record)
    return record


def load_course(store: Store, course_id: str) -> CourseRecord:
    raw = _load_raw(store, COURSE_PREFIX + course_id.encode()[:64], "course", course_id)
    return CourseRecord.from_bytes(raw)


def list_courses(store: Store, limit: int = 1000) -> list[CourseRecord]:
    scanned = store.scan(Kind.JOURNAL, COURSE_PREFIX, limit=limit)
    return [CourseRecord.from_bytes(value) for _, value in scanned]


def _put_course(store: Store, course: CourseRecord) -> None:
    store.put(Kind.JOURNAL, COURSE_PREFIX + course.key_id.encode(), course.to_bytes())


def add_task(
    node: Services,
    course_id: str,
    *,
    name: str,
    description: str,
    criteria: str,
    hashtag: str,
    image: bytes | None = None,
    auto_award: bool = False,
) -> CourseTask:
    """Add a task to a course: a new badge class, awarded for a post tagged `hashtag`."""
    course = load_course(node.store, course_id)
    tag = normalize_hashtag(hashtag)
    if len(course.all_tasks()) >= MAX_TASKS:
        raise CourseError(f"a course has at most {MAX_TASKS} tasks", code="course_full")
    if any(task["hashtag"] == tag for task in course.all_tasks()):
        raise CourseError(f"#{tag} names a task of this course already", code="hashtag_taken")
    badge_class = classes.create_class(
        node, name=name, description=description, criteria=criteria, image=image
    )
    task: CourseTask = {
        "id": new_id(),
        "class_id": badge_class.id or "",  # a class made here has its id
        "name": name,
        "hashtag": tag,
        "auto_award": auto_award,
    }
    _put_course(node.store, course.with_members(tasks=(*course.all_tasks(), task)))
    return task


def set_completion(
    node: Services,
    course_id: str,
    *,
    name: str,
    description: str,
    criteria: str,
    image: bytes | None = None,
) -> Completion:
    """Give the course a completion badge: a new badge class, awarded to a participant once
    they hold every task's badge. A course has one; setting it again is refused."""
    course = load_course(node.store, course_id)
    if course.get("completion"):
        raise CourseError("this course has a completion badge already", code="completion_exists")
    badge_class = classes.create_class(
        node, name=name, description=description, criteria=criteria, image=image
    )
    completion: Completion = {"class_id": badge_class.id or "", "name": name}
    _put_course(node.store, course.with_members(completion=completion))
    return completion


def completion_key(course_id: str, participant_id: str) -> bytes:
    return DONE_PREFIX + f"{course_id}/{participant_id}".encode()


# --- participants --------------------------------------------------------------------------


def join_course(
    node: Services, course_id: str, *, feed: str, did: str | None, email: str | None
) -> Participant:
    """Register a participant: the feed the harvest reads, and who their badges are for."""
    check_join(node, course_id, feed=feed, did=did, email=email)
    prefix = _participants_prefix(course_id)
    known = list_participants(node.store, course_id)
    if len(known) >= MAX_PARTICIPANTS:
        raise CourseError(
            f"a course has at most {MAX_PARTICIPANTS} participants", code="course_full"
        )
    if any(participant.feed == feed for participant in known):
        raise CourseError("that feed has joined this course already", code="participant_exists")
    record = Participant.joining(
        id=new_id(),
        course=course_id,
        feed=feed,
        did=did,
        email=email,
        joined=format_created(node.clock()),
    )
    node.store.put(Kind.JOURNAL, prefix + record.key_id.encode(), record.to_bytes())
    return record


def check_join(
    node: Services, course_id: str, *, feed: str, did: str | None, email: str | None
) -> None:
    """What a registration must be (the public form checks this before counting it)."""
    load_course(node.store, course_id)
    if len(feed) > MAX_URL_CHARS or not _FEED_URL.fullmatch(feed):
        raise CourseError("the feed must be an http(s) URL", code="feed_url_invalid")
    _check_identity(did, email)


def _check_identity(did: str | None, email: str | None) -> None:
    if (did is None) == (email is None):
        raise CourseError("give a did:key or an email address, one of them", code="earner_invalid")
    try:
        if did is not None:
            public_key_from_did_key(did)
        if email is not None:
            email_identity(email, salt=None, hashed=False)
    except BadgeChainError as exc:
        raise CourseError(exc.message, code="earner_invalid") from exc


def _participants_prefix(course_id: str) -> bytes:
    return PARTICIPANT_PREFIX + course_id.encode() + b"/"


def list_participants(store: Store, course_id: str) -> list[Participant]:
    prefix = _participants_prefix(course_id)
    scanned = store.scan(Kind.JOURNAL, prefix, limit=MAX_PARTICIPANTS)
    return [Participant.from_bytes(value) for _, value in scanned]


def load_participant(store: Store, course_id: str, participant_id: str) -> Participant:
    key = _participants_prefix(course_id) + participant_id.encode()
    return Participant.from_bytes(_load_raw(store, key, "participant", participant_id))


def save_participant(store: Store, participant: Participant) -> None:
    key = _participants_prefix(participant.course or "") + participant.key_id.encode()
    store.put(Kind.JOURNAL, key, participant.to_bytes())


# --- submissions ---------------------------------------------------------------------------


def entry_key(course_id: str, participant_id: str, entry_id: str) -> bytes:
    """The key that keeps a feed entry from being submitted twice (its id hashed: any size)."""
    digest = hashlib.sha256(entry_id.encode()).hexdigest()
    return ENTRY_PREFIX + f"{course_id}/{participant_id}/{digest}".encode()


def new_submission_id(course_id: str) -> str:
    """A submission's id: its course's id, then its own (so a course's are one key range)."""
    return course_id + new_id()


def submission_key(submission_id: str) -> bytes:
    course_id = submission_id[:_ID_CHARS]
    return SUBMISSION_PREFIX + f"{course_id}/{submission_id[_ID_CHARS:]}".encode()[:128]


def load_submission(store: Store, submission_id: str) -> Submission:
    key = submission_key(submission_id)
    return Submission.from_bytes(_load_raw(store, key, "submission", submission_id))


def save_submission(store: Store, submission: Submission) -> None:
    store.put(Kind.JOURNAL, submission_key(submission.key_id), submission.to_bytes())


def list_submissions(
    store: Store, course_id: str, state: str | None = None, limit: int = 100_000
) -> list[Submission]:
    prefix = SUBMISSION_PREFIX + course_id.encode() + b"/"
    scanned = store.scan(Kind.JOURNAL, prefix, limit=limit)
    found = [Submission.from_bytes(value) for _, value in scanned]
    chosen = [submission for submission in found if state in (None, submission.state)]
    return sorted(chosen, key=lambda submission: submission.found or "")


# --- storage -------------------------------------------------------------------------------


def _load_raw(store: Store, key: bytes, what: str, name: str) -> bytes:
    raw = store.get(Kind.JOURNAL, key)
    if raw is None:
        raise CourseError(f"no {what} {name!r:.80}", code=f"{what}_not_found")
    return raw
