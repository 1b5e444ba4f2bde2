"""Errors as RFC 9457 problem reports (`application/problem+json`) with a stable `code`.

Every answer the gateway gives for a failure goes through here, whether the failure is a
BadgeChainError from the core, a request the HTTP layer refused (size, method, route), or
a bug (logged, and reported without its details).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from badgechain.chain.errors import BadgeChainError

__all__ = ["PROBLEM_TYPE", "Problem", "problem_middleware", "problem_response"]

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# Codes for what aiohttp itself refuses, by status.
_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    400: "bad_request",
    408: "request_timeout",
}


class Problem(BadgeChainError):
    """A failure decided by the gateway itself (authentication, media type, routing)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.http_status = status


def problem_response(status: int, code: str, detail: str, **extra: Any) -> web.Response:
    body = {
        "type": f"https://badgechain.example/problems/{code}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return web.Response(
        status=status, text=json.dumps(body), content_type=PROBLEM_TYPE, headers=headers
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadgeChainError as exc:
        return problem_response(exc.http_status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        response = problem_response(exc.status, code, exc.reason)
        if "Allow" in exc.headers:  # a 405 says which methods the path has (RFC 9110 15.5.6)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("unexpected error serving %s %s", request.method, request.path)
        return problem_response(500, "internal_error", "the node failed to answer; see its log")
