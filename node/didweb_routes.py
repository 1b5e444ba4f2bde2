"""GET /<segment>/did.json: the DID document of a node that issues as a did:web with one
path segment (node/didweb.py). Registered last, so it shadows no other route."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from .didweb import served_document
from .problems import Problem
from .routes import Access, Answer, Route
from .web import SERVICES, json_response

__all__ = ["ROUTES"]


async def get_path_document(request: web.Request) -> web.Response:
    """GET /<segment>/did.json: the document of this node's did:web with that path."""
    document = served_document(request.app[SERVICES], request.path)
    if document is None:
        raise Problem(404, "did_not_found", "this node serves no DID document at this path")
    return json_response(document)


ROUTES: Final = (
    Route(
        "GET",
        "/{did_path}/did.json",
        get_path_document,
        "The DID document of this node's did:web, when that did:web names this path",
        access=Access.PUBLIC,
        ok=Answer("DidDocument"),
        params=(("did_path", "did_web_segment"),),
        errors=(404,),
    ),
)
