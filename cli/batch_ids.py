"""Which batch a CSV became (issue 16 item 5): running the same CSV twice must not issue every
badge twice. A batch is named by its content (the class and the checked rows) or by the
`--batch-id` the user gives; this home remembers which node batch each name started, so a
second run resumes that batch, or reports it, instead of issuing anew (`--again` does).

File: HOME/batches.json {name: {"batch_id", "created", "source"}}, written atomically.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from badgechain.chain.errors import BadgeChainError

from .home import HomeError, read_bounded, write_atomic

__all__ = ["BATCHES_FILE", "content_name", "forget", "recall", "remember"]

BATCHES_FILE: Final = "batches.json"
_MAX_FILE_BYTES: Final = 1024 * 1024
_MAX_KEPT: Final = 2000  # the oldest names are forgotten past this
_MAX_NAME_CHARS: Final = 100


def content_name(class_id: str, rows: list[dict[str, Any]]) -> str:
    """A name for the batch these rows of this class make: equal rows, equal name."""
    canonical = json.dumps(
        {"class_id": class_id, "rows": rows}, sort_keys=True, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode()).digest()[:15]
    return "csv-" + base64.urlsafe_b64encode(digest).decode()


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > _MAX_NAME_CHARS or not name.isprintable():
        raise HomeError(
            f"--batch-id takes 1 to {_MAX_NAME_CHARS} printable characters",
            code="batch_id_invalid",
        )
    return name


def _load(home: Path) -> dict[str, Any]:
    path = home / BATCHES_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(read_bounded(path, _MAX_FILE_BYTES))
    except (ValueError, BadgeChainError):
        return {}  # a damaged memory only costs the check; the node's batches are intact
    return data if isinstance(data, dict) else {}


def recall(home: Path, name: str) -> dict[str, Any] | None:
    """What this home remembers of the batch `name` started: {"batch_id", "created", …}."""
    found = _load(home).get(name)
    return found if isinstance(found, dict) and isinstance(found.get("batch_id"), str) else None


def remember(home: Path, name: str, batch_id: str, source: str) -> None:
    known = _load(home)
    known.pop(name, None)
    known[name] = {
        "batch_id": batch_id,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
    }
    kept = dict(list(known.items())[-_MAX_KEPT:])
    write_atomic(home / BATCHES_FILE, json.dumps(kept, indent=1).encode(), mode=0o600)


def forget(home: Path, name: str) -> None:
    known = _load(home)
    if known.pop(name, None) is not None:
        write_atomic(home / BATCHES_FILE, json.dumps(known, indent=1).encode(), mode=0o600)
