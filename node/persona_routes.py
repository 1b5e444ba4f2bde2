"""Personas, endorsements and collections: admin routes and GET /collections/{id}."""

from __future__ import annotations

from aiohttp import web

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    """Register this module's routes (none yet)."""
