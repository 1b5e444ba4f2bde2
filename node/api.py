"""Every route of the gateway: each route module's declarations, in registration order.

The order matters only where paths overlap: node/gateway.py lists `/badges/{uid}.json`
before `/badges/{uid}`, which would match "z….json" too.
"""

from __future__ import annotations

from typing import Final

from . import (
    backpack_routes,
    claim_routes,
    course_routes,
    didweb_routes,
    earner_routes,
    gateway,
    issuer_routes,
    log_routes,
    mail_routes,
    page_routes,
    peers,
    persona_routes,
    presentation_routes,
    queue_routes,
    replication,
    status_routes,
    verify_routes,
)
from .routes import Route

__all__ = ["ROUTES"]

ROUTES: Final[tuple[Route, ...]] = (
    *gateway.ROUTES,
    *issuer_routes.ROUTES,
    *earner_routes.ROUTES,
    *backpack_routes.ROUTES,
    *verify_routes.ROUTES,
    *status_routes.ROUTES,
    *log_routes.ROUTES,
    *persona_routes.ROUTES,
    *presentation_routes.ROUTES,
    *queue_routes.ROUTES,
    *replication.ROUTES,
    *page_routes.ROUTES,
    *course_routes.ROUTES,
    *peers.ROUTES,
    *claim_routes.ROUTES,
    *mail_routes.ROUTES,
    *didweb_routes.ROUTES,  # last: /{did_path}/did.json must not shadow another route
)
