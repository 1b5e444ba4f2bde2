"""A node whose gateway URL changed (a new port, a new public URL) republishes the locations
that named the old one (issue 16 item 2): otherwise the BNS keeps sending verifiers to an
address where nothing answers.

The URL a node last served under is kept in HOME/gateway-url (a home without the file, made
before it, is taken to have served at its config.toml's gateway). At start, every accepted badge
and persona whose location holds a URL under that old base is moved to the same path under
the new base (`earner.move` or `personas.move_persona`, which sign and publish the
location). The file is updated once every move is done, so a move that failed is tried
again at the next start.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from badgechain.chain.errors import BadgeChainError
from badgechain.storage.files import read_bounded, write_atomic

from . import earner, personas
from .badgestore import states
from .config import load_config
from .personas import PERSONA_ROLE
from .services import Services

__all__ = ["GATEWAY_URL_FILE", "follow_gateway_url"]

log = logging.getLogger(__name__)

GATEWAY_URL_FILE: Final = "gateway-url"
_MAX_URL_BYTES: Final = 2048
# Whose locations this node published under its own gateway: received badges it accepted,
# and its personas' genesis badges.
_MOVED_ROLES: Final = frozenset({"received", PERSONA_ROLE})


def _previous(home: Path) -> str | None:
    path = home / GATEWAY_URL_FILE
    if not path.exists():
        return _saved_gateway(home)
    try:
        return read_bounded(path, _MAX_URL_BYTES).decode().strip() or None
    except (BadgeChainError, UnicodeDecodeError):
        return None


def _saved_gateway(home: Path) -> str | None:
    """A home written before the gateway-url file (or never started since): the gateway
    its config.toml names, which is where its node served unless told otherwise."""
    try:
        saved = load_config(home)
    except BadgeChainError:
        return None
    if saved.public_url:
        return saved.public_url.rstrip("/")
    return f"http://127.0.0.1:{saved.http_port}" if saved.http_port else None


def _moved(urls: list[str], old: str, new: str) -> list[str]:
    prefix = old.rstrip("/") + "/"
    return [
        new.rstrip("/") + "/" + url[len(prefix) :] if url.startswith(prefix) else url
        for url in urls
    ]


async def follow_gateway_url(node: Services) -> int:
    """Move the locations that name this node's previous gateway URL to its current one;
    how many were moved."""
    old, new = _previous(node.home), node.gateway_url
    moved = failed = 0
    if old is not None and old.rstrip("/") != new.rstrip("/"):
        for uid, state in states(node.store):
            urls = state.get("urls")
            role = state.get("role")
            if role not in _MOVED_ROLES or state.get("state") != "accepted":
                continue
            if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
                continue
            changed = _moved(urls, old, new)
            if changed == urls:
                continue
            try:
                if role == PERSONA_ROLE:
                    await personas.move_persona(node, uid, changed)
                else:
                    await earner.move(node, uid, changed)
                moved += 1
            except BadgeChainError as exc:
                failed += 1
                log.warning("republishing a moved location failed", extra={"code": exc.code})
        log.info(
            "the gateway URL changed: locations republished",
            extra={"old": old, "new": new, "moved": moved, "failed": failed},
        )
    if failed == 0:
        write_atomic(node.home / GATEWAY_URL_FILE, new.encode(), mode=0o600)
    return moved
