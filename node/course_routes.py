"""Course routes (issue 15): courses, tasks, participants, harvests and review (admin), and
the public Webmention endpoint with the mentions it kept for a badge.

The work is in courses.py, harvest.py, course_review.py and webmention.py; this module
checks each request's shape and size.
"""

from __future__ import annotations

import math
from typing import Any, Final
from urllib.parse import parse_qs

from aiohttp import web

from . import course_limits, course_pages, course_review, courses, harvest, webmention
from .issuer_routes import MAX_CLASS_BODY_BYTES, _fields, _image, _text
from .problems import Problem, problem_response
from .routes import Access, Answer, Body, Route, json_body
from .web import SERVICES, json_response, parse_uid, read_bounded_body

__all__ = ["ROUTES"]

MAX_SMALL_BODY_BYTES: Final = 64 * 1024
MAX_FORM_BYTES: Final = 8 * 1024  # two URLs
FORM: Final = "application/x-www-form-urlencoded"
_COURSE: Final = (("course_id", "class_id"),)  # the same id shape as a class's
_SUBMISSION: Final = (("submission_id", "class_id"),)


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    return _text(body, name)


async def post_course(request: web.Request) -> web.Response:
    """POST /admin/courses {name, description?} → 201 the course."""
    node = request.app[SERVICES]
    body = _fields(json_body(request), {"name"}, {"description"})
    record = courses.create_course(
        node, name=_text(body, "name"), description=_optional_text(body, "description") or ""
    )
    node.enqueue(
        harvest.HARVEST_TOPIC, record.key_id.encode(), delay_s=node.settings.harvest_interval_s
    )
    return json_response(record.to_json(), status=201)


async def get_courses(request: web.Request) -> web.Response:
    node = request.app[SERVICES]
    listed = [course.to_json() for course in courses.list_courses(node.store)]
    return json_response({"courses": listed})


async def get_course(request: web.Request) -> web.Response:
    """GET /admin/courses/{id} → the course, its participants (each feed's state), counts
    and the last asked-for harvest."""
    node = request.app[SERVICES]
    course_id = request.match_info["course_id"]
    course = courses.load_course(node.store, course_id)
    submissions = courses.list_submissions(node.store, course_id)
    counts: dict[str, int] = {}
    for submission in submissions:
        state = submission.state or ""
        counts[state] = counts.get(state, 0) + 1
    participants = [p.to_json() for p in courses.list_participants(node.store, course_id)]
    try:
        run: dict[str, Any] | None = harvest.last_harvest(node, course_id)
    except courses.CourseError:
        run = None
    shown = {"participants": participants, "submissions": counts, "harvest": run}
    return json_response(course.to_json() | shown)


async def post_task(request: web.Request) -> web.Response:
    """POST /admin/courses/{id}/tasks {name, description, criteria, hashtag, image?,
    auto_award?} → 201 the task (with its badge class id)."""
    node = request.app[SERVICES]
    body = _fields(
        json_body(request),
        {"name", "description", "criteria", "hashtag"},
        {"image", "auto_award"},
    )
    auto = body.get("auto_award", False)
    if not isinstance(auto, bool):
        raise Problem(400, "field_invalid", "auto_award must be true or false")
    task = courses.add_task(
        node,
        request.match_info["course_id"],
        name=_text(body, "name"),
        description=_text(body, "description"),
        criteria=_text(body, "criteria"),
        hashtag=_text(body, "hashtag"),
        image=_image(body.get("image")),
        auto_award=auto,
    )
    return json_response(task, status=201)


async def post_participant(request: web.Request) -> web.Response:
    """POST /admin/courses/{id}/participants {feed, did?, email?} → 201 the participant."""
    node = request.app[SERVICES]
    body = _fields(json_body(request), {"feed"}, {"did", "email"})
    record = courses.join_course(
        node,
        request.match_info["course_id"],
        feed=_text(body, "feed"),
        did=_optional_text(body, "did"),
        email=_optional_text(body, "email"),
    )
    return json_response(record.to_json(), status=201)


async def post_harvest(request: web.Request) -> web.Response:
    """POST /admin/courses/{id}/harvest → 202: the harvest is queued (a course's feeds may
    take minutes); GET the same path for its state and, when done, its summary."""
    node = request.app[SERVICES]
    try:
        run = harvest.request_harvest(node, request.match_info["course_id"])
    except course_limits.RateLimited as exc:
        return _busy(exc)
    answer = json_response(run, status=202)
    answer.headers["Location"] = request.path
    return answer


async def get_harvest(request: web.Request) -> web.Response:
    """GET /admin/courses/{id}/harvest → the last asked-for harvest: queued, running, done."""
    node = request.app[SERVICES]
    return json_response(harvest.last_harvest(node, request.match_info["course_id"]))


async def get_submissions(request: web.Request) -> web.Response:
    """GET /admin/courses/{id}/submissions → every submission; `pending` those to review."""
    node = request.app[SERVICES]
    course_id = request.match_info["course_id"]
    return json_response(
        {
            "pending": course_review.pending(node, course_id),
            "submissions": [s.to_json() for s in courses.list_submissions(node.store, course_id)],
        }
    )


async def post_award(request: web.Request) -> web.Response:
    node = request.app[SERVICES]
    awarded = await course_review.award(node, request.match_info["submission_id"])
    return json_response(awarded, status=201)


async def post_decline(request: web.Request) -> web.Response:
    node = request.app[SERVICES]
    body = _fields(json_body(request), {"reason"}, set())
    declined = course_review.decline(
        node, request.match_info["submission_id"], _text(body, "reason")
    )
    return json_response(declined)


async def post_webmention(request: web.Request) -> web.Response:
    """POST /webmention source=…&target=… (W3C Webmention §3.2): checked, rate-limited and
    queued; 202 with the status URL in Location (§3.2.1), verified by the work queue."""
    node = request.app[SERVICES]
    data = await read_bounded_body(request, MAX_FORM_BYTES)
    if len(data) > MAX_FORM_BYTES:
        raise Problem(413, "body_too_large", f"the form is over {MAX_FORM_BYTES} bytes")
    try:
        form = parse_qs(data.decode(), strict_parsing=True, max_num_fields=8)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Problem(400, "webmention_invalid", "send source and target as a form") from exc
    source, target = form.get("source", []), form.get("target", [])
    if len(source) != 1 or len(target) != 1:
        raise Problem(400, "webmention_invalid", "send one source and one target")
    try:
        job = webmention.accept(node, source[0], target[0])
    except webmention.Busy as exc:
        return _busy(exc)
    answer = json_response(job, status=202)
    answer.headers["Location"] = f"{node.gateway_url}/webmention/{job['id']}"
    return answer


def _busy(exc: webmention.Busy | course_limits.RateLimited) -> web.Response:
    answer = problem_response(exc.http_status, exc.code, exc.message)
    answer.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    return answer


async def get_webmention(request: web.Request) -> web.Response:
    """GET /webmention/{id} → a received Webmention's state: queued, verified, refused."""
    node = request.app[SERVICES]
    return json_response(webmention.received(node, request.match_info["webmention_id"]))


async def get_mentions(request: web.Request) -> web.Response:
    """GET /badges/{uid}/mentions → the verified Webmentions of a badge held here."""
    node = request.app[SERVICES]
    uid = parse_uid(request.match_info["uid"])
    return json_response({"mentions": webmention.mentions(node, uid)})


def _admin(method: str, path: str, handler: Any, summary: str, **more: Any) -> Route:
    params = _SUBMISSION if "{submission_id}" in path else _COURSE if "{course_id}" in path else ()
    return Route(method, path, handler, summary, access=Access.ADMIN, params=params, **more)


ROUTES: Final = (
    _admin(
        "POST",
        "/admin/courses",
        post_course,
        "Create a course",
        ok=Answer("Json", 201),
        body=Body("CourseRequest", max_bytes=MAX_SMALL_BODY_BYTES),
    ),
    _admin("GET", "/admin/courses", get_courses, "List this node's courses", ok=Answer("Json")),
    _admin(
        "GET",
        "/admin/courses/{course_id}",
        get_course,
        "A course: tasks, participants with their feed's state, submission counts",
        ok=Answer("Json"),
        errors=(404,),
    ),
    _admin(
        "POST",
        "/admin/courses/{course_id}/tasks",
        post_task,
        "Add a task (a badge class awarded for a post with its hashtag)",
        ok=Answer("Json", 201),
        body=Body("TaskRequest", max_bytes=MAX_CLASS_BODY_BYTES),
        errors=(404, 409, 422),
    ),
    _admin(
        "POST",
        "/admin/courses/{course_id}/participants",
        post_participant,
        "Register a participant's feed and identity",
        ok=Answer("Json", 201),
        body=Body("ParticipantRequest", max_bytes=MAX_SMALL_BODY_BYTES),
        errors=(404, 409),
    ),
    _admin(
        "POST",
        "/admin/courses/{course_id}/harvest",
        post_harvest,
        "Queue a harvest of every participant's feed now (rate-limited per course)",
        ok=Answer("Json", 202),
        errors=(404, 429),
    ),
    _admin(
        "GET",
        "/admin/courses/{course_id}/harvest",
        get_harvest,
        "The last asked-for harvest: queued, running, or done with its summary",
        ok=Answer("Json"),
        errors=(404,),
    ),
    _admin(
        "GET",
        "/admin/courses/{course_id}/submissions",
        get_submissions,
        "A course's submissions, the pending ones with names",
        ok=Answer("Json"),
        errors=(404,),
    ),
    _admin(
        "POST",
        "/admin/submissions/{submission_id}/award",
        post_award,
        "Award a submission: issue its task's badge with the post as evidence",
        ok=Answer("Json", 201),
        errors=(404, 409, 422, 503),
    ),
    _admin(
        "POST",
        "/admin/submissions/{submission_id}/decline",
        post_decline,
        "Decline a submission with a reason",
        ok=Answer("Json"),
        body=Body("DeclineRequest", max_bytes=MAX_SMALL_BODY_BYTES),
        errors=(404, 409),
    ),
    Route(
        "POST",
        "/webmention",
        post_webmention,
        "Receive a Webmention of a badge page (queued; verified by fetching the source)",
        access=Access.PUBLIC,
        ok=Answer("Json", 202),
        body=Body("WebmentionForm", media=(FORM,), max_bytes=MAX_FORM_BYTES, parsed=False),
        errors=(400, 429, 503),
    ),
    Route(
        "GET",
        "/webmention/{webmention_id}",
        get_webmention,
        "A received Webmention's state: queued, verified or refused",
        access=Access.PUBLIC,
        ok=Answer("Json"),
        params=(("webmention_id", "class_id"),),
        errors=(404,),
    ),
    Route(
        "GET",
        "/badges/{uid}/mentions",
        get_mentions,
        "The verified Webmentions of a badge held here",
        access=Access.PUBLIC,
        ok=Answer("Json"),
        errors=(400,),
    ),
    *course_pages.ROUTES,
)
