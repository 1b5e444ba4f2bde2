"""Badge classes: an achievement this node issues, stored once, named by its URL.

Journal: issuer/class/<class id> → {"id", "achievement", "created"} (a ClassRecord,
node/records.py).
"""

from __future__ import annotations

import base64
import logging
import secrets
import uuid
from typing import Any, Final

from badgechain.chain.badge import (
    build_achievement,
)
from badgechain.chain.proof import format_created
from badgechain.storage import Kind, Store

from .badgestore import journal_record
from .didweb import issuer_did
from .errors import IssuerError
from .records import ClassRecord
from .services import Services

log = logging.getLogger(__name__)

CLASS_PREFIX: Final = b"issuer/class/"
MAX_IMAGE_BYTES = 256 * 1024
MAX_CLASS_NAME_CHARS = 200
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def image_data_uri(image: bytes) -> str:
    """The class image as a data: URI (it travels inside every badge): PNG or SVG only."""
    if len(image) > MAX_IMAGE_BYTES:
        raise IssuerError(
            f"the image is over {MAX_IMAGE_BYTES // 1024} KiB", code="image_too_large"
        )
    if image.startswith(_PNG_MAGIC):
        mime = "image/png"
    elif b"<svg" in image[:4096] and image.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        mime = "image/svg+xml"
    else:
        raise IssuerError("the image must be a PNG or an SVG", code="image_invalid")
    return f"data:{mime};base64,{base64.b64encode(image).decode()}"


def create_class(
    node: Services, *, name: str, description: str, criteria: str, image: bytes | None = None
) -> ClassRecord:
    """Define and store a badge class (an OB 3.0 Achievement); returns its stored record."""
    if len(name) > MAX_CLASS_NAME_CHARS:
        raise IssuerError(f"name is over {MAX_CLASS_NAME_CHARS} chars", code="class_invalid")
    class_id = secrets.token_urlsafe(8)
    achievement = build_achievement(
        issuer_did(node),
        achievement_id=_achievement_id(node, class_id),
        name=name,
        description=description,
        criteria=criteria,
        image=None if image is None else image_data_uri(image),
    )
    if node.config.issuer_name:  # the class's creator is this node's issuer, named as such
        achievement["creator"]["name"] = node.config.issuer_name
    record = ClassRecord(id=class_id, achievement=achievement, created=format_created(node.clock()))
    node.store.put(Kind.JOURNAL, CLASS_PREFIX + class_id.encode(), record.to_bytes())
    return record


def _achievement_id(node: Services, class_id: str) -> str:
    # An Achievement's id should stay true for as long as its badges live. A configured
    # public URL does (this node serves GET /classes/{id}); a loopback URL with a port that
    # changes on restart would not, so without one the id is a URN.
    if node.config.public_url:
        return f"{node.config.public_url.rstrip('/')}/classes/{class_id}"
    return f"urn:uuid:{uuid.uuid4()}"


def load_class(store: Store, class_id: str) -> ClassRecord:
    found = journal_record(store, CLASS_PREFIX, class_id, ClassRecord)
    if found is None:
        raise IssuerError(f"no badge class {class_id!r:.80}", code="class_not_found")
    return found


def load_achievement(store: Store, class_id: str) -> dict[str, Any]:
    """The Achievement of class `class_id`, which every badge of the class carries."""
    achievement = load_class(store, class_id).achievement
    if achievement is None:  # a record this node wrote always has one
        raise IssuerError(f"badge class {class_id!r:.80} has no achievement", code="class_invalid")
    return achievement


def list_classes(store: Store, limit: int = 10_000) -> list[ClassRecord]:
    return [
        ClassRecord.from_bytes(value)
        for _, value in store.scan(Kind.JOURNAL, CLASS_PREFIX, limit=limit)
    ]
