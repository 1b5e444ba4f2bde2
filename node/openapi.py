"""The OpenAPI 3.1 document of the gateway, derived from the route declarations.

Every fact about a route (method, path, admin or public, body, answers) is in its `Route`
(node/routes.py), beside its handler; this module only writes them down in OpenAPI's terms,
with the schemas of node/openapi_schemas.py. `build_document(app)` describes the routes the
app has registered, so the served document is never wrong about what exists.
"""

from __future__ import annotations

import re
from typing import Any, Final

from aiohttp import web

from .api import ROUTES
from .openapi_schemas import PATH_SCHEMAS, QUERY_SCHEMAS, SCHEMAS, ref
from .routes import Route, declared_routes

__all__ = ["OPERATIONS", "build_document", "registered_routes"]

# Every route a node may serve (tests/node/test_gateway.py compares it with the app's).
OPERATIONS: Final = ROUTES
PROBLEM: Final = "application/problem+json"
_PATH_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_REASONS: Final = {
    400: "the request is malformed (a bad UID, DID, page or body)",
    401: "the admin bearer token is missing or wrong",
    404: "nothing is known by that name",
    409: "the request conflicts with what the node holds",
    413: "the body is over its size limit",
    415: "the body's media type is not one this route reads",
    422: "the request is well formed but cannot be done",
    429: "too many requests of this kind for now; Retry-After says when to try again",
    502: "a server asked on the way answered wrongly",
    503: "the DHT or a remote server did not answer",
}
_TAGS: Final = [
    {"name": "public", "description": "Anyone may call these."},
    {"name": "vc-api", "description": "W3C VC API."},
    {"name": "admin", "description": "Need the node's admin bearer token."},
]


def registered_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path template) of every route of `app`; HEAD rides along with each GET."""
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method not in ("HEAD", "*")
    }


def build_document(app: web.Application | None = None) -> dict[str, Any]:
    """The OpenAPI document of the routes `app` has registered (without one: of all)."""
    routes = declared_routes(app) if app is not None else list(ROUTES)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "BadgeChain node",
            "version": "0.1.0",
            "description": "Gateway and admin API of a BadgeChain node. Every error is an "
            "RFC 9457 problem report with a stable `code`.",
        },
        "tags": _TAGS,
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": route.summary,
        "tags": [route.tag or route.access.value],
        "responses": _responses(route),
    }
    parameters = _parameters(route)
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": route.body.required,
            "content": {
                media: {"schema": ref(_body_schema(route.body.schema, media))}
                for media in route.body.media
            },
        }
    if route.admin:
        operation["security"] = [{"adminToken": []}]
    return operation


def _parameters(route: Route) -> list[dict[str, Any]]:
    named = dict(route.params)
    in_path = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": PATH_SCHEMAS[named.get(name, name)],
        }
        for name in _PATH_PARAMETER.findall(route.path)
    ]
    in_query = [
        {"name": name, "in": "query", "schema": QUERY_SCHEMAS[kind]} for name, kind in route.query
    ]
    return in_path + in_query


def _body_schema(schema: str, media: str) -> str:
    """A form upload carries the body in a file field (node/verify_routes.py)."""
    return "BadgeForm" if media == "multipart/form-data" else schema


def _responses(route: Route) -> dict[str, Any]:
    problem = {PROBLEM: {"schema": ref("Problem")}}
    responses: dict[str, Any] = {}
    for answer in (route.ok, *route.also):  # answers of one status: one media type each
        entry = responses.setdefault(
            str(answer.status), {"description": answer.description, "content": {}}
        )
        entry["content"][answer.media] = {"schema": ref(answer.schema)}
    for status in sorted(route.problems):
        responses[str(status)] = {"description": _REASONS[status], "content": problem}
    responses["default"] = {"description": "any other failure (timeouts, bugs)", "content": problem}
    return responses


def _operation_id(route: Route) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", route.path).strip("_")
    return f"{route.method.lower()}_{words}"
