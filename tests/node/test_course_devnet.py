"""Issue 15 end to end, with real processes only: `badgechain devnet` (one process per node),
a local aiohttp blog serving RSS 2.0, Atom and JSON Feed with tagged posts and a
Webmention endpoint, and a real SMTP server on loopback. Every step is the `badgechain`
command a person would type, run as a subprocess: a post tagged #ds106 becomes a badge
accepted on the participant's node with the post as its evidence, the blog receives the
badge's mention, and a participant who gave an email address gets the claim mail and
claims the badge on a node of their own; a crawl from the issuer's feed finds both badges.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from badgechain.node.config import NodeConfig, SmtpConfig, read_admin_token, save_config
from tests.node.conftest import eventually
from tests.node.test_claims import Mailbox
from tests.node.test_courses import Blog, _blog_app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

CLI = (sys.executable, "-m", "badgechain.cli")
COMMAND_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 180.0
CLAIM_COMMAND = re.compile(r"badgechain claim (\S+) --code (\S+) --issuer (\S+)")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle r="30"/></svg>'


@dataclass(frozen=True)
class DevNode:
    home: Path
    did: str
    gateway: str


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on loopback (aiosmtpd, its own thread), no login."""
    mailbox, port = Mailbox(), _free_port(socket.SOCK_STREAM)
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture
async def blog() -> AsyncIterator[Blog]:
    state = Blog()
    runner = web.AppRunner(_blog_app(state))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield state
    finally:
        state.never.set()
        await runner.cleanup()


async def _read_until_ready(stdout: asyncio.StreamReader) -> None:
    async with asyncio.timeout(READY_TIMEOUT_S):
        while line := await stdout.readline():
            if b"Ctrl-C stops" in line:
                return
    pytest.fail("the devnet ended before it was ready")


@pytest.fixture
async def devnet(tmp_path: Path, smtp: tuple[Mailbox, int]) -> AsyncIterator[list[DevNode]]:
    """`badgechain devnet --nodes 3`; node0 (the issuer) is given the loopback SMTP server
    in its config.toml first, as an issuer would (the devnet keeps an existing config)."""
    directory = tmp_path / "devnet"
    issuer_home = directory / "node0"
    issuer_home.mkdir(parents=True, mode=0o700)
    mail = SmtpConfig("127.0.0.1", smtp[1], False, "", "course@example.org")
    http_port, dht_port = _free_port(socket.SOCK_STREAM), _free_port(socket.SOCK_DGRAM)
    save_config(issuer_home, NodeConfig(http_port=http_port, dht_port=dht_port, smtp=mail))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BADGECHAIN_")}
    with (tmp_path / "devnet.err").open("wb") as errors:
        process = await asyncio.create_subprocess_exec(
            *CLI, "devnet", "--nodes", "3", "--dir", str(directory),
            stdout=asyncio.subprocess.PIPE, stderr=errors, env=env, cwd=tmp_path,
        )  # fmt: skip
    try:
        assert process.stdout is not None
        await _read_until_ready(process.stdout)
        described = json.loads((directory / "devnet.json").read_text())
        yield [DevNode(Path(n["home"]), n["did"], n["gateway"]) for n in described["nodes"]]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(60):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


async def badgechain(node: DevNode, *args: str) -> str:
    """Run `badgechain --home <node's home> ARGS…` as a process; its output (exit 0)."""
    process = await asyncio.create_subprocess_exec(
        *CLI, "--home", str(node.home), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(COMMAND_TIMEOUT_S):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, (args, out.decode(), err.decode())
    return out.decode()


async def _get_json(http: aiohttp.ClientSession, url: str, node: DevNode | None = None) -> Any:
    headers = {"Authorization": f"Bearer {read_admin_token(node.home)}"} if node else {}
    async with http.get(url, headers=headers) as answer:
        assert answer.status == 200, (url, answer.status, await answer.text())
        return await answer.json(content_type=None)


def _body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    return payload.decode() if isinstance(payload, bytes) else ""


async def _set_up_course(issuer: DevNode, earner: DevNode, blog: Blog, image: Path) -> str:
    course = (await badgechain(issuer, "course", "create", "--name", "DS106")).strip()
    task = await badgechain(
        issuer, "course", "task", "add", course, "--name", "Made a thing",
        "--description", "Made and blogged a thing", "--criteria", "A post tagged #ds106",
        "--hashtag", "#ds106", "--image", str(image),
    )  # fmt: skip
    assert "#ds106" in task, task
    await badgechain(issuer, "course", "join", course, "--feed", f"{blog.base}/rss.xml",
                     "--did", earner.did)  # fmt: skip
    await badgechain(issuer, "course", "join", course, "--feed", f"{blog.base}/atom.xml",
                     "--email", "ann@example.org")  # fmt: skip
    await badgechain(issuer, "course", "join", course, "--feed", f"{blog.base}/feed.json",
                     "--did", earner.did)  # fmt: skip
    listed = await badgechain(issuer, "course", "list")
    assert course in listed and "DS106" in listed, listed
    return course


async def test_a_tagged_post_becomes_an_accepted_badge_a_mention_and_a_claim_mail(
    devnet: list[DevNode],
    blog: Blog,
    smtp: tuple[Mailbox, int],
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    issuer, earner, newcomer = devnet
    (tmp_path / "badge.svg").write_bytes(SVG)
    course = await _set_up_course(issuer, earner, blog, tmp_path / "badge.svg")

    harvested = await badgechain(issuer, "course", "harvest", course)
    assert "3 feeds read: 3 new submissions" in harvested, harvested  # RSS, Atom, JSON Feed
    review = await badgechain(issuer, "course", "review", course)
    assert "My first post #ds106" in review and f"<{blog.base}/posts/1>" in review, review
    assert "I made a thing." in review and f"by {earner.did}" in review, review
    assert "#ds106 Made a thing" in review, review
    pending = json.loads(await badgechain(issuer, "course", "review", course, "--json"))
    by_link = {item["link"]: item["id"] for item in pending}
    post_1, post_2, post_3 = (f"{blog.base}/posts/{n}" for n in (1, 2, 3))
    assert sorted(by_link) == [post_1, post_2, post_3]
    uid_1 = (await badgechain(issuer, "course", "award", by_link[post_1])).strip()
    uid_2 = (await badgechain(issuer, "course", "award", by_link[post_2])).strip()
    reason = ("--reason", "Please write about what you made")
    assert "declined" in await badgechain(issuer, "course", "decline", by_link[post_3], *reason)

    # The earner's node receives the badge, and its owner accepts it there.
    async def delivered() -> bool:
        inbox = await _get_json(http, f"{earner.gateway}/admin/inbox", earner)
        return uid_1 in [item["uid"] for item in inbox["badges"]]

    await eventually(delivered, 60)
    assert f"accepted {uid_1}" in await badgechain(earner, "accept", uid_1)
    held = await _get_json(http, f"{earner.gateway}/badges/{uid_1}.json")
    assert [item["id"] for item in held["evidence"]] == [post_1]
    assert held["credentialSubject"]["id"] == earner.did
    image = held["credentialSubject"]["achievement"]["image"]  # the task's --image
    assert image["id"] == "data:image/svg+xml;base64," + base64.b64encode(SVG).decode(), image

    # The participant who gave an email address gets the claim mail, and claims the badge.
    mailbox, _ = smtp

    def mail_for(uid: str) -> list[Message]:
        with mailbox.lock:
            return [m for m in mailbox.messages if uid in _body(m)]

    async def mailed() -> bool:
        return bool(mail_for(uid_2))

    await eventually(mailed, 60)
    (message,) = mail_for(uid_2)
    assert mail_for(uid_1) == []  # a did:key participant gets their badge, not a mail
    assert message["To"] == "ann@example.org"
    found = CLAIM_COMMAND.search(_body(message))
    assert found is not None and found[1] == uid_2
    claim = ["claim", uid_2, "--code", found[2], "--issuer", found[3], "--json"]
    assert json.loads(await badgechain(newcomer, *claim)) == {"uid": uid_2, "state": "accepted"}
    claimed = await _get_json(http, f"{newcomer.gateway}/badges/{uid_2}.json")
    assert [item["id"] for item in claimed["evidence"]] == [post_2]

    # The blog received a Webmention for each post, from the badge's page on the issuer.
    async def mentioned() -> bool:
        return len(blog.mentions) == 2

    await eventually(mentioned, 60)
    assert sorted(blog.mentions, key=lambda m: m["target"]) == [
        {"source": f"{issuer.gateway}/badges/{uid_1}", "target": post_1},
        {"source": f"{issuer.gateway}/badges/{uid_2}", "target": post_2},
    ]
    # Both badges verify from a third place, through the network.
    for uid in (uid_1, uid_2):
        report = json.loads(await badgechain(newcomer, "verify", "--online", uid, "--json"))
        assert report["verdict"] == "valid", report
    # A crawler started at the issuer's feed finds both and verifies them (issue 15 item 5).
    crawl = ("crawl", f"{issuer.gateway}/feed.atom", "--private", "--gateway", issuer.gateway)
    report = json.loads(await badgechain(newcomer, *crawl, "--max-pages", "60", "--json"))
    categories = {badge["uid"]: badge["category"] for badge in report["badges"]}
    assert categories[uid_1] == categories[uid_2] == "valid", report
    shown = await badgechain(issuer, "course", "show", course)
    assert "submissions: 2 awarded, 1 declined" in shown, shown
