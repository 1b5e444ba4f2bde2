"""Interop fixtures: the JavaScript reference stack, skipped only when node or npm is absent."""

from __future__ import annotations

import pytest

from tests.interop.jspeer import JsPeer, start_js_peer


@pytest.fixture(scope="session")
def js_peer() -> JsPeer:
    """One installed peer for the whole session (npm runs only when the lockfile changed)."""
    return start_js_peer()
