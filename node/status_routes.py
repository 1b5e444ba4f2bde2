"""Bitstring Status List routes: GET /status/{list_id}."""

from __future__ import annotations

from aiohttp import web

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    """Register this module's routes (none yet)."""
