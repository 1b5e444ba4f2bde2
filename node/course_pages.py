"""The course pages of the node's web UI (issue 15): the review queue (/review: the page is
public, every call it makes needs the admin token pasted into it), a course's public page
(/courses/{id}) with its registration form, the public facts that page shows, and the
rate-limited registration it posts. The completion badge is set by an admin route here too.
"""

from __future__ import annotations

import functools
import math
from importlib import resources
from typing import Any, Final

from aiohttp import web

from . import courses
from .course_limits import REGISTRATIONS, client_address
from .issuer_routes import MAX_CLASS_BODY_BYTES, _fields, _image, _text
from .page_routes import CONTENT_SECURITY_POLICY
from .problems import problem_response
from .routes import Access, Answer, Body, Route, json_body
from .web import SERVICES, json_response

__all__ = ["ROUTES"]

MAX_JOIN_BODY_BYTES: Final = 8 * 1024  # a feed URL and a did:key or an address
_PAGE_HEADERS: Final = {  # as node/page_routes.py serves the main page
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_COURSE: Final = (("course_id", "class_id"),)


@functools.cache
def _page(name: str) -> bytes:
    return (resources.files(__package__) / "static" / name).read_bytes()


def _html(name: str) -> web.Response:
    return web.Response(
        body=_page(name), content_type="text/html", charset="utf-8", headers=_PAGE_HEADERS
    )


async def get_review_page(request: web.Request) -> web.Response:
    """GET /review: the review queue's page (its calls carry the admin token)."""
    return _html("review.html")


async def get_course_page(request: web.Request) -> web.Response:
    """GET /courses/{id}: a course's page, with its registration form."""
    node = request.app[SERVICES]
    courses.load_course(node.store, request.match_info["course_id"])  # 404 for none
    return _html("course.html")


async def get_course_about(request: web.Request) -> web.Response:
    """GET /courses/{id}/about → what a course's page shows: name, description, the tasks'
    names and hashtags, the completion badge's name. (Participants stay private.)"""
    node = request.app[SERVICES]
    course = courses.load_course(node.store, request.match_info["course_id"])
    completion = course.completion
    tasks = course.all_tasks()
    return json_response(
        {
            "id": course.get("id"),
            "name": course.get("name"),
            "description": course.get("description"),
            "tasks": [{"name": t["name"], "hashtag": t["hashtag"]} for t in tasks],
            "completion": {"name": completion["name"]} if completion else None,
        }
    )


async def post_join(request: web.Request) -> web.Response:
    """POST /courses/{id}/participants {feed, did?|email?} → 201: anyone may register, a
    few times an hour per client address and a bounded number in all (429 past either;
    the counts outlive a restart; behind `trusted_proxies` the client is X-Forwarded-For's)."""
    node = request.app[SERVICES]
    body = _fields(json_body(request), {"feed"}, {"did", "email"})
    course_id, feed = request.match_info["course_id"], _text(body, "feed")
    did, email = _optional(body, "did"), _optional(body, "email")
    courses.check_join(node, course_id, feed=feed, did=did, email=email)  # then counted
    forwarded = request.headers.getall("X-Forwarded-For", [])
    client = client_address(request.remote, forwarded, node.config.trusted_proxies)
    wait = REGISTRATIONS.check(node.store, client, node.clock().timestamp())
    if wait is not None:
        answer = problem_response(
            429, "registration_rate_limited", "too many registrations for now; try again later"
        )
        answer.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return answer
    record = courses.join_course(node, course_id, feed=feed, did=did, email=email)
    return json_response({"id": record.id, "course": record.course}, status=201)


def _optional(body: dict[str, Any], name: str) -> str | None:
    return None if body.get(name) in (None, "") else _text(body, name)


async def post_completion(request: web.Request) -> web.Response:
    """POST /admin/courses/{id}/completion {name, description, criteria, image?} → 201."""
    node = request.app[SERVICES]
    body = _fields(json_body(request), {"name", "description", "criteria"}, {"image"})
    completion = courses.set_completion(
        node,
        request.match_info["course_id"],
        name=_text(body, "name"),
        description=_text(body, "description"),
        criteria=_text(body, "criteria"),
        image=_image(body.get("image")),
    )
    return json_response(completion, status=201)


def _public(method: str, path: str, handler: Any, summary: str, **more: Any) -> Route:
    params = _COURSE if "{course_id}" in path else ()
    return Route(method, path, handler, summary, access=Access.PUBLIC, params=params, **more)


ROUTES: Final = (
    _public(
        "GET",
        "/review",
        get_review_page,
        "The review queue's web page (its calls need the admin token)",
        ok=Answer("Text", media="text/html"),
    ),
    _public(
        "GET",
        "/courses/{course_id}",
        get_course_page,
        "A course's web page, with its registration form",
        ok=Answer("Text", media="text/html"),
        errors=(400, 404),
    ),
    _public(
        "GET",
        "/courses/{course_id}/about",
        get_course_about,
        "A course's public facts: name, description, tasks and their hashtags",
        ok=Answer("Json"),
        errors=(400, 404),
    ),
    _public(
        "POST",
        "/courses/{course_id}/participants",
        post_join,
        "Register for a course: a feed and a did:key or email address (rate-limited)",
        ok=Answer("Json", 201),
        body=Body("ParticipantRequest", max_bytes=MAX_JOIN_BODY_BYTES),
        errors=(404, 409, 429),
    ),
    Route(
        "POST",
        "/admin/courses/{course_id}/completion",
        post_completion,
        "Give a course its completion badge (awarded once every task's badge is held)",
        access=Access.ADMIN,
        params=_COURSE,
        ok=Answer("Json", 201),
        body=Body("CompletionRequest", max_bytes=MAX_CLASS_BODY_BYTES),
        errors=(404, 409, 422),
    ),
)
