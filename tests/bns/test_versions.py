"""Wire version 1 (ids without a puzzle) and version 2 nodes never mix (issue 17 item 6a).

The version 1 node is the last `bns/dht.py` before the id puzzle, read from the project's
git history, so it is the real thing; the test is skipped where that history is absent.
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from badgechain.bns.values import BnsValues
from badgechain.chain.keys import KeyPair
from badgechain.storage import MemoryStore
from tests.bns.network import TEST_SETTINGS

LAST_V1_COMMIT = "ffba9f4"  # bns/dht.py as it was before wire version 2
ROOT = Path(__file__).resolve().parents[2]


def load_v1() -> ModuleType:
    try:
        source = subprocess.run(
            ["git", "show", f"{LAST_V1_COMMIT}:bns/dht.py"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("the git history holding wire version 1 is not available")
    spec = importlib.util.spec_from_loader("badgechain.bns._dht_v1", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    exec(compile(source, "bns/dht.py@v1", "exec"), module.__dict__)  # noqa: S102
    return module


async def test_version_1_and_2_nodes_drop_each_others_datagrams() -> None:
    v1 = load_v1()
    from badgechain.bns.dht import DhtNode

    old: Any = v1.DhtNode(
        KeyPair.generate().public_key,
        MemoryStore(),
        BnsValues(),
        v1.DhtSettings(rpc_timeout=0.3, liveness_interval=0.5),
    )
    new = DhtNode(KeyPair.generate().public_key, MemoryStore(), BnsValues(), TEST_SETTINGS)
    await old.listen(0)
    await new.listen(0)
    try:
        async with asyncio.timeout(10):
            assert await new.bootstrap([old.address]) == 0
            assert await old.bootstrap([new.address]) == 0
        assert new.stats["datagrams_old_version"] >= 1
        assert old.stats["datagrams_dropped"] >= 1
        assert new.contact_count() == old.contact_count() == 0
    finally:
        await old.stop()
        await new.stop()
