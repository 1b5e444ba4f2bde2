"""The web page at `/` and its static files (node/static/), served with a strict
Content-Security-Policy: the page runs only its own script and calls only this node's API.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Final

from aiohttp import web

from .problems import Problem
from .routes import Access, Answer, Route

__all__ = ["CONTENT_SECURITY_POLICY", "ROUTES", "STATIC_FILES"]

# The only files /static/ serves, and their media types: a fixed list, so no name from a
# URL ever reaches the file system.
STATIC_FILES: Final = {
    "app.js": "text/javascript",
    "course.js": "text/javascript",  # the course pages (node/course_pages.py)
    "present.js": "text/javascript",  # the home page's presentation panel
    "style.css": "text/css",
}
_PAGE = "index.html"
# No inline script or style, no plugins, no framing, no other origin: the page shows
# hostile badge data, and this keeps a slip in its code from becoming script injection.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@functools.cache
def _read_static(name: str) -> bytes:
    """A file of node/static/ (read once; the package ships them, see pyproject)."""
    return (resources.files(__package__) / "static" / name).read_bytes()


def _file_response(name: str, media_type: str) -> web.Response:
    return web.Response(
        body=_read_static(name), content_type=media_type, charset="utf-8", headers=_HEADERS
    )


async def get_page(request: web.Request) -> web.Response:
    """GET /: the page; its badge and issuer views are reached by the URL's #fragment."""
    return _file_response(_PAGE, "text/html")


async def get_static(request: web.Request) -> web.Response:
    """GET /static/{name}: the page's script or style sheet, by name from the allow-list."""
    name = request.match_info["name"]
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise Problem(404, "not_found", "no such file of the web page")
    return _file_response(name, media_type)


ROUTES: Final = (
    Route(
        "GET",
        "/",
        get_page,
        "The web page: verify a badge, see a badge or an issuer's badges",
        access=Access.PUBLIC,
        ok=Answer("Text", media="text/html"),
    ),
    Route(
        "GET",
        "/static/{name}",
        get_static,
        "A file of the web page (its script or its style sheet), from a fixed list",
        access=Access.PUBLIC,
        ok=Answer("Text", media="text/*"),
        errors=(404,),
    ),
)
