"""Typed records of a course's journal (node/courses.py): a course with its tasks and its
completion badge, a participant with the state of their feed, and a submission.

Like node/records.py they write the bytes the node wrote before they had types: members in
their stored order, members they do not know kept in place, and never escaped (node/courses.py
`dump` always wrote ensure_ascii=False, so a record read back is rewritten that way too).
A member stored as null (a participant's did or email, a feed's validators) stays an untyped
member read through a property: a typed member would drop it as absent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypedDict

from .records import Check, JsonRecord

__all__ = ["Completion", "CourseRecord", "CourseTask", "FeedState", "Participant", "Submission"]


class CourseTask(TypedDict):
    """A task of a course: a badge class awarded for a post tagged `hashtag`."""

    id: str
    class_id: str
    name: str
    hashtag: str
    auto_award: bool


class Completion(TypedDict):
    """A course's completion badge class, awarded once every task's badge is held."""

    class_id: str
    name: str


class FeedState(TypedDict):
    """What the last harvest learnt of a participant's feed (null: not yet)."""

    etag: str | None
    modified: str | None
    error: dict[str, Any] | None
    checked: str | None


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _object(value: Any) -> bool:
    return isinstance(value, dict)


def _objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


class _Unescaped(JsonRecord):
    """A record node/courses.py `dump` wrote: never escaped, however it was read."""

    __slots__ = ()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Self:
        read = super().from_bytes(raw)
        return dataclasses.replace(read, escaped=False)  # type: ignore[type-var]


@dataclass(frozen=True, slots=True)
class CourseRecord(_Unescaped):
    """A course (Kind.JOURNAL b"course/c/" + id)."""

    _MEMBERS: ClassVar[Mapping[str, Check]] = {
        "id": _text,
        "name": _text,
        "description": _text,
        "created": _text,
        "tasks": _objects,
        "completion": _object,
    }
    _ESCAPED: ClassVar[bool] = False

    id: str | None = None
    name: str | None = None
    description: str | None = None
    created: str | None = None
    tasks: tuple[CourseTask, ...] | None = None
    completion: Completion | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    order: tuple[str, ...] = field(default=(), compare=False)
    escaped: bool | None = field(default=None, compare=False)

    @property
    def key_id(self) -> str:
        """The id in its key (every stored course has one)."""
        return self.id or ""

    def all_tasks(self) -> tuple[CourseTask, ...]:
        return self.tasks or ()

    def task(self, task_id: str) -> CourseTask | None:
        return next((task for task in self.all_tasks() if task["id"] == task_id), None)


@dataclass(frozen=True, slots=True)
class Participant(_Unescaped):
    """A participant of a course (Kind.JOURNAL b"course/p/" + course id + "/" + id): their
    feed, who their badges are for (a did:key or an email address, the other null) and their
    feed's state."""

    _MEMBERS: ClassVar[Mapping[str, Check]] = {
        "id": _text,
        "course": _text,
        "feed": _text,
        "joined": _text,
        "feed_state": _object,
    }
    _ESCAPED: ClassVar[bool] = False

    id: str | None = None
    course: str | None = None
    feed: str | None = None
    joined: str | None = None
    feed_state: FeedState | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    order: tuple[str, ...] = field(default=(), compare=False)
    escaped: bool | None = field(default=None, compare=False)

    @property
    def key_id(self) -> str:
        """The id in its key (every stored participant has one)."""
        return self.id or ""

    @property
    def did(self) -> str | None:
        found = self.get("did")
        return found if isinstance(found, str) else None

    @property
    def email(self) -> str | None:
        found = self.get("email")
        return found if isinstance(found, str) else None

    @classmethod
    def joining(
        cls, *, id: str, course: str, feed: str, did: str | None, email: str | None, joined: str
    ) -> Participant:
        """A new participant: their feed not read yet, members in the order always written."""
        state: FeedState = {"etag": None, "modified": None, "error": None, "checked": None}
        return cls(
            id=id,
            course=course,
            feed=feed,
            joined=joined,
            feed_state=state,
            extra=(("did", did), ("email", email)),
            order=("id", "course", "feed", "did", "email", "joined", "feed_state"),
        )

    def with_feed_state(self, **changes: Any) -> Participant:
        """The participant with their feed's state changed (its other members kept)."""
        merged = dict(self.feed_state or {}) | changes
        return self.with_members(feed_state=merged)

    def state(self) -> FeedState:
        """The feed's state, each validator null when none is kept."""
        kept: Mapping[str, Any] = self.feed_state or {}
        return {
            "etag": kept.get("etag"),
            "modified": kept.get("modified"),
            "error": kept.get("error"),
            "checked": kept.get("checked"),
        }


def _flag(value: Any) -> bool:
    return isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Submission(_Unescaped):
    """A feed entry submitted for a task (Kind.JOURNAL b"course/s/" + course id + "/" + the
    rest of its id; node/harvest_submit.py): pending, then awarded (`uid`, `reviewed`,
    `auto`) or declined (`reason`, `reviewed`); `edited` when its entry changed later.
    The members are declared in the order the node adds them, so a change that adds
    several writes them as the dict merges before the type did."""

    _MEMBERS: ClassVar[Mapping[str, Check]] = {
        "id": _text,
        "course": _text,
        "task": _text,
        "participant": _text,
        "state": _text,  # pending | awarded | declined
        "found": _text,
        "entry": _text,
        "link": _text,
        "title": _text,
        "excerpt": _text,
        "digest": _text,
        "uid": _text,
        "reason": _text,
        "reviewed": _text,
        "auto": _flag,
        "edited_after_review": _flag,
        "edited": _text,
        "auto_error": _object,
    }
    _ESCAPED: ClassVar[bool] = False

    id: str | None = None
    course: str | None = None
    task: str | None = None
    participant: str | None = None
    state: str | None = None
    found: str | None = None
    entry: str | None = None
    link: str | None = None
    title: str | None = None
    excerpt: str | None = None
    digest: str | None = None
    uid: str | None = None
    reason: str | None = None
    reviewed: str | None = None
    auto: bool | None = None
    edited_after_review: bool | None = None
    edited: str | None = None
    auto_error: dict[str, Any] | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    order: tuple[str, ...] = field(default=(), compare=False)
    escaped: bool | None = field(default=None, compare=False)

    @property
    def key_id(self) -> str:
        """The id in its key (every stored submission has one)."""
        return self.id or ""

    def web_link(self) -> str | None:
        """The post's URL when it is one (a badge's evidence, a Webmention's target)."""
        link = self.link or ""
        return link if link.startswith(("http://", "https://")) else None
