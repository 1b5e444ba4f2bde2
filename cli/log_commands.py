"""The node log from the command line: `badgechain log verify`."""

from __future__ import annotations

import click

__all__ = ["register"]


def register(main: click.Group) -> None:
    """Add this module's commands to `main` (none yet)."""
