"""The work queue for the operator (admin): what is waiting, and a dead item's fate.

GET    /admin/queue                    every item: topic, due time, attempts, last error
POST   /admin/queue/{item_id}/retry    make an item (a dead one too) due now
DELETE /admin/queue/{item_id}          drop an item: its work is not done by the queue
"""

from __future__ import annotations

from aiohttp import web

from badgechain.storage.queue import QueueItem

from .problems import Problem
from .web import SERVICES, json_response

__all__ = ["add_routes"]


def _item(request: web.Request) -> QueueItem:
    found = request.app[SERVICES].queue.find(request.match_info["item_id"][:2100])
    if found is None:
        raise Problem(404, "queue_item_not_found", "no such item in the work queue")
    return found


async def get_queue(request: web.Request) -> web.Response:
    items = request.app[SERVICES].queue.items()
    return json_response({"items": [item.to_json() for item in items]})


async def post_retry(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    item = services.queue.retry(_item(request), services.clock().timestamp())
    services.wake.set()
    return json_response(item.to_json())


async def delete_item(request: web.Request) -> web.Response:
    item = _item(request)
    request.app[SERVICES].queue.done(item)
    return json_response({"dropped": item.id})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/queue", get_queue)
    app.router.add_post("/admin/queue/{item_id}/retry", post_retry)
    app.router.add_delete("/admin/queue/{item_id}", delete_item)
