"""The user's BadgeChain home: where the key file lives. All file writes are atomic."""

from __future__ import annotations

import os
from pathlib import Path

from badgechain.chain.errors import BadgeChainError
from badgechain.storage.files import read_bounded, write_atomic

__all__ = ["KEY_FILE", "HomeError", "default_home", "read_bounded", "write_atomic"]

KEY_FILE = "key.json"


class HomeError(BadgeChainError):
    code = "home_error"


def default_home() -> Path:
    return Path(os.environ.get("BADGECHAIN_HOME") or Path.home() / ".badgechain")
