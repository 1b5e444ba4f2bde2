"""The course routes' rate limits (node/course_limits.py) on real in-process nodes: the
counts outlive a restart, and X-Forwarded-For names the client only behind a proxy the
node's `trusted_proxies` names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from badgechain.node import harvest
from badgechain.node.app import RunningNode
from badgechain.node.config import ConfigError, NodeConfig, load_config, save_config
from badgechain.node.course_limits import REGISTRATIONS, RateLimit, client_address
from badgechain.storage import Kind
from tests.node.conftest import NodeNetwork, eventually
from tests.node.test_courses import call, course_with_task

Json = Any
FEED = "https://blog.example/feed.xml"


async def _register(
    http: aiohttp.ClientSession, node: RunningNode, course: str, n: int, via: str | None = None
) -> tuple[int, Json, str | None]:
    """A public registration (no admin token); `via`: the X-Forwarded-For header sent."""
    headers = {"X-Forwarded-For": via} if via is not None else {}
    body = {"feed": f"{FEED}?{n}", "email": f"p{n}@example.org"}
    url = f"{node.gateway_url}/courses/{course}/participants"
    async with http.post(url, json=body, headers=headers) as answer:
        return answer.status, await answer.json(), answer.headers.get("Retry-After")


async def _harvest(
    http: aiohttp.ClientSession, network: NodeNetwork, node: RunningNode, course: str
) -> tuple[int, Json]:
    """Ask for a harvest; when queued, wait until it is done (so the next is a new one)."""
    path = f"/admin/courses/{course}/harvest"
    status, run = await call(http, network, node, "POST", path)
    if status == 202:

        async def done() -> bool:
            return bool((await call(http, network, node, "GET", path))[1]["state"] == "done")

        await eventually(done, 15)
    return status, run


async def test_rate_limits_outlive_a_restart(
    node_network: NodeNetwork, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harvest, "HARVESTS", RateLimit("harvest", 2, 60, 3600.0))
    (node,) = await node_network.start(1)
    course, _ = await course_with_task(http, node_network, node)
    for n in range(REGISTRATIONS.per_key):
        assert (await _register(http, node, course, n))[0] == 201
    for _ in range(2):
        assert (await _harvest(http, node_network, node, course))[0] == 202
    status, problem, _ = await _register(http, node, course, 99)
    assert status == 429 and problem["code"] == "registration_rate_limited"

    node = await node_network.restart(node)
    status, problem, retry_after = await _register(http, node, course, 100)
    assert status == 429 and problem["code"] == "registration_rate_limited"
    assert retry_after is not None and 1 <= int(retry_after) <= REGISTRATIONS.window_s
    status, problem = await _harvest(http, node_network, node, course)
    assert status == 429 and problem["code"] == "harvest_rate_limited", problem
    counts = list(node.store.scan(Kind.RATE, b""))
    assert 0 < len(counts) <= REGISTRATIONS.overall + 4  # a handful of small records


async def test_x_forwarded_for_counts_only_behind_a_trusted_proxy(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    behind = await node_network.add(trusted_proxies=("127.0.0.1/32",))
    course, _ = await course_with_task(http, node_network, behind)
    for n in range(REGISTRATIONS.per_key):
        assert (await _register(http, behind, course, n, "203.0.113.7"))[0] == 201
    # the client the proxy saw is the rightmost hop: an address added on the left is no way out
    assert (await _register(http, behind, course, 10, "198.51.100.9, 203.0.113.7"))[0] == 429
    assert (await _register(http, behind, course, 11, "203.0.113.8"))[0] == 201

    open_node = await node_network.add()  # trusts no proxy: the header is ignored
    course, _ = await course_with_task(http, node_network, open_node)
    statuses = [
        (await _register(http, open_node, course, n, f"203.0.113.{n}"))[0]
        for n in range(REGISTRATIONS.per_key + 1)
    ]
    assert statuses == [201] * REGISTRATIONS.per_key + [429]


@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        ("127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
        ("127.0.0.1", ["198.51.100.9, 203.0.113.7"], "203.0.113.7"),
        ("127.0.0.1", ["203.0.113.7, 10.0.0.2"], "203.0.113.7"),  # past a trusted hop
        ("127.0.0.1", ["203.0.113.7", "10.0.0.2"], "203.0.113.7"),  # two header lines
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["not an address"], "127.0.0.1"),
        ("127.0.0.1", ["10.0.0.2"], "127.0.0.1"),  # only trusted hops
        ("192.0.2.1", ["203.0.113.7"], "192.0.2.1"),  # an untrusted peer's header
        (None, ["203.0.113.7"], "unknown"),
    ],
)
def test_client_address_reads_forwarded_for_right_to_left_past_trusted_hops(
    remote: str | None, forwarded: list[str], client: str
) -> None:
    assert client_address(remote, forwarded, ("127.0.0.1/32", "10.0.0.0/8")) == client


def test_trusted_proxies_round_trip_through_config_toml(tmp_path: Path) -> None:
    config = NodeConfig(name="n", trusted_proxies=("10.0.0.0/8", "::1/128"))
    save_config(tmp_path, config)
    assert load_config(tmp_path) == config
    (tmp_path / "config.toml").write_text('[node]\ntrusted_proxies = ["proxy.example"]\n')
    with pytest.raises(ConfigError):
        load_config(tmp_path)
