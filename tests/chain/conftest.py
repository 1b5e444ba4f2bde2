"""Fixtures for the pure core's tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from badgechain.chain.errors import ContextError
from badgechain.chain.keys import KeyPair
from badgechain.chain.multibase import multibase_decode
from tests.conftest import shared_path

Loader = Callable[[str, Any], dict[str, Any]]


@cache
def _shared_contexts(root: Path) -> dict[str, Any]:
    index = json.loads((root / "index.json").read_text())
    return {url: json.loads((root / name).read_text()) for url, name in index.items()}


@pytest.fixture
def shared_loader() -> Loader:
    """A test-only loader over ../shared/interop/contexts (it has the W3C examples context)."""
    contexts = _shared_contexts(shared_path("interop", "contexts"))

    def load(url: str, options: Any = None) -> dict[str, Any]:
        if url not in contexts:
            raise ContextError(f"test loader has no {url}")
        return {"contextUrl": None, "documentUrl": url, "document": contexts[url]}

    return load


def key_from_secret_multikey(secret: str) -> KeyPair:
    """A key from an Ed25519 secret Multikey (`z3u2…`, multicodec header 0x8026)."""
    raw = multibase_decode(secret)
    assert raw[:2] == b"\x80\x26" and len(raw) == 34
    return KeyPair(raw[2:])
