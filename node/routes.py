"""Route declarations: each route of the gateway is one `Route`, and the rest derives from it.

A route module exports `ROUTES`, a tuple of `Route`s beside its handlers (node/api.py lists
them all). `register()` adds them to the router; the admin check (`admin_only`), the reading
of request bodies (`Body`) and the OpenAPI document (node/openapi.py) read the same
declarations, so a new route is written once and cannot be public by mistake.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass
from types import MappingProxyType
from typing import Any, Final

from aiohttp import web

from badgechain.chain.jsonio import parse_json

from .config import MAX_JSON_BYTES
from .problems import Handler, Problem
from .web import ADMIN, read_bounded_body

__all__ = [
    "ADMIN_PREFIX",
    "JSON",
    "JSON_BODIES",
    "Access",
    "Answer",
    "Body",
    "Route",
    "admin_only",
    "declaration",
    "declarations",
    "declared_routes",
    "json_body",
    "register",
    "undeclared_routes",
]

JSON: Final = "application/json"
# What a JSON body may be sent as: text/plain too, for clients that cannot set a type.
JSON_BODIES: Final = (JSON, "application/ld+json", "text/plain")
# Every route under it is admin; an unknown path under it answers 401 too without the token,
# so that a caller without it learns nothing of which admin routes exist.
ADMIN_PREFIX: Final = "/admin"
_METHODS: Final = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH"})
_DECLARED: web.AppKey[dict[web.AbstractRoute, Route]] = web.AppKey("declared_routes", dict)
_JSON_BODY: web.RequestKey[Any] = web.RequestKey("json_body", object)


class Access(enum.Enum):
    """Who may call a route: anyone, or only the holder of the admin bearer token."""

    PUBLIC = "public"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Answer:
    """A success answer: its status, its schema (a name in node/openapi_schemas.py), its type."""

    schema: str
    status: int = 200
    media: str = JSON
    description: str = "success"


@dataclass(frozen=True, slots=True)
class Body:
    """A request body: the media types a route reads, its size limit and its schema.

    `parsed`: the JSON is read and parsed before the handler runs (`json_body`); otherwise the
    handler streams the body itself within `max_bytes` (POST /verify answers an oversized
    badge with a report, not a 413). Either way the media type is checked first.
    """

    schema: str
    media: tuple[str, ...] = JSON_BODIES
    max_bytes: int = MAX_JSON_BYTES
    required: bool = True  # False: a request without a body is let through
    parsed: bool = True
    too_large: str = "body_too_large"  # the problem code past max_bytes

    def __post_init__(self) -> None:
        if self.parsed and not set(self.media) <= set(JSON_BODIES):
            raise ValueError(f"a body parsed as JSON comes as {JSON_BODIES}, not {self.media}")


@dataclass(frozen=True, slots=True)
class Route:
    """One route: what it is (method, path, handler), who may call it, what it reads and
    what it answers."""

    method: str
    path: str
    handler: Handler
    summary: str
    _: KW_ONLY
    access: Access
    ok: Answer
    body: Body | None = None
    errors: tuple[int, ...] = ()  # problem statuses besides those `problems` implies
    also: tuple[Answer, ...] = ()  # other successes
    query: tuple[tuple[str, str], ...] = ()  # (name, kind in openapi_schemas.QUERY_SCHEMAS)
    params: tuple[tuple[str, str], ...] = ()  # path parameters not described by their name
    tag: str | None = None  # the OpenAPI tag, when not its access

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise ValueError(f"{self.path}: no such method {self.method!r}")
        if self.path.startswith(ADMIN_PREFIX) and not self.admin:
            raise ValueError(f"{self.path}: a route under {ADMIN_PREFIX} is admin")
        if self.body is not None and self.method in ("GET", "DELETE"):
            raise ValueError(f"{self.method} {self.path}: no body on a {self.method}")

    @property
    def admin(self) -> bool:
        return self.access is Access.ADMIN

    @property
    def problems(self) -> frozenset[int]:
        """Every problem status the route may answer: its own, and what its declaration
        implies (401 for admin; 415 and 413 for a body, 400 for one parsed as JSON)."""
        implied = {401} if self.admin else set()
        if self.body is not None:
            implied |= {413, 415} | ({400} if self.body.parsed else set())
        return frozenset(self.errors) | implied


def register(app: web.Application, routes: Iterable[Route]) -> None:
    """Add `routes` to the app's router, each with its declaration (a GET answers HEAD too)."""
    declared = app.setdefault(_DECLARED, {})
    for route in routes:
        resource = app.router.add_resource(route.path)
        handler = _endpoint(route)
        methods = ("HEAD", "GET") if route.method == "GET" else (route.method,)
        for method in methods:
            declared[resource.add_route(method, handler)] = route


def declarations(app: web.Application) -> Mapping[web.AbstractRoute, Route]:
    """Each route `register()` added to the app's router (HEAD too), with its declaration."""
    declared = app.get(_DECLARED)
    return MappingProxyType(declared if declared is not None else {})


def declaration(request: web.Request) -> Route | None:
    """The declaration of the route the request matched; None when it matched none."""
    return declarations(request.app).get(request.match_info.route)


def declared_routes(app: web.Application) -> list[Route]:
    """The declarations of the app's routes, in registration order."""
    return list(dict.fromkeys(declarations(app).values()))


def undeclared_routes(app: web.Application) -> list[web.AbstractRoute]:
    """Routes of the app added past `register()`: none should exist."""
    declared = declarations(app)
    return [route for route in app.router.routes() if route not in declared]


@web.middleware
async def admin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A route declared admin (and any path under /admin) answers nothing without the token."""
    if _needs_token(request) and not request.app[ADMIN].admits(request):
        raise Problem(401, "admin_token_required", "this call needs the node's admin token")
    return await handler(request)


def _needs_token(request: web.Request) -> bool:
    route = declaration(request)
    if route is not None:
        return route.admin
    return request.path.startswith(ADMIN_PREFIX)  # a 404 or 405 under /admin


def json_body(request: web.Request, absent: Any = None) -> Any:
    """The parsed JSON body of a route whose declaration has a parsed `Body`; `absent` when
    the body is optional and the request has none."""
    return request.get(_JSON_BODY, absent)


def _endpoint(route: Route) -> Handler:
    """The handler as registered: it reads the declared body first."""
    body = route.body
    if body is None:
        return route.handler

    async def endpoint(request: web.Request) -> web.StreamResponse:
        if body.required or request.can_read_body:
            _check_media(body, request)
            if body.parsed:
                request[_JSON_BODY] = await _read_json(body, request)
        return await route.handler(request)

    return endpoint


def _check_media(body: Body, request: web.Request) -> None:
    if request.content_type not in body.media:
        *others, last = body.media
        listed = f"{', '.join(others)} or {last}" if others else last
        raise Problem(415, "unsupported_media_type", f"send the body as {listed}")


async def _read_json(body: Body, request: web.Request) -> Any:
    """The body's JSON, bounded (refused early on its Content-Length), duplicate keys refused."""
    too_large = Problem(413, body.too_large, f"the body is over {body.max_bytes} bytes")
    if request.content_length is not None and request.content_length > body.max_bytes:
        raise too_large
    data = await read_bounded_body(request, body.max_bytes)
    if len(data) > body.max_bytes:
        raise too_large
    return parse_json(data, max_bytes=body.max_bytes)
