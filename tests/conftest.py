"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = (REPO_ROOT / ".." / "shared").resolve()


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the calling test when ../shared is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip("../shared is absent: the interop test data lives there, beside the repository")
    return SHARED_DIR.joinpath(*parts)


@pytest.fixture
def shared_dir() -> Path:
    return shared_path()
