"""Personas, endorsements and collections over the node's admin API."""

from __future__ import annotations

import click

__all__ = ["register"]


def register(main: click.Group) -> None:
    """Add this module's commands to `main` (none yet)."""
