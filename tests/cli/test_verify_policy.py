"""Issue 10 §1: one verification policy (docs/verification.md) — network by default,
`--offline` answers indeterminate for what it could not check, credentials off the BNS, and
what a verifier whose DHT hides an issuer's pages still catches."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from badgechain.chain.badge import BNS_URN_PREFIX, build_achievement, build_credential
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import KeyPair
from badgechain.chain.proof import sign_credential
from badgechain.chain.resolve import BnsView, Resolvers, Unreachable
from badgechain.chain.statuslist import (
    STATUS_LIST_FETCHER,
    build_list_credential,
    empty_bits,
    set_bit,
    status_entry,
)
from badgechain.chain.verify import Report, verify_credential
from badgechain.node.config import NodeConfig
from badgechain.node.outbound import HOST_MAP_ENABLE_ENV, HOST_MAP_ENV, host_map

NOW = datetime.now(UTC).replace(microsecond=0)
HOUR = timedelta(hours=1)
ISSUER = KeyPair.generate()
EARNER = KeyPair.generate()
LIST_URL = "https://status.example/lists/1"


def _badge(status: dict[str, Any] | None = None, subject: str | None = None) -> dict[str, Any]:
    achievement = build_achievement(
        ISSUER.did, achievement_id="urn:uuid:5e1f", name="Policy", description="D", criteria="C"
    )
    credential = build_credential(
        issuer_did=ISSUER.did,
        subject_id=subject or EARNER.did,
        achievement=achievement,
        valid_from=NOW - 2 * HOUR,
        credential_id="urn:uuid:9d2a",
        credential_status=status,
    )
    return sign_credential(credential, ISSUER, created=NOW - 2 * HOUR)


def _status_list(*revoked: int) -> dict[str, Any]:
    bits = empty_bits()
    for index in revoked:
        set_bit(bits, index)
    unsigned = build_list_credential(
        ISSUER.did, LIST_URL, bits, "revocation", NOW - HOUR / 2, NOW + HOUR / 2, 3_600_000
    )
    return sign_credential(unsigned, ISSUER, created=NOW - HOUR / 2)


def _verify(badge: dict[str, Any], **resolvers: Any) -> Report:
    return verify_credential(badge, now=NOW, resolvers=Resolvers(**resolvers))


def _code(report: Report, name: str) -> tuple[str, str, bool]:
    check = report.check(name)
    return check.status, check.code, check.blocking


def _unreachable(_: str) -> Any:
    raise Unreachable("no DHT node answered", code="dht_unreachable")


def _view(badge: dict[str, Any], revoked: bool = False) -> BnsView:
    uid = badge["proof"]["proofValue"]
    return BnsView(uid=uid, issuer_did=ISSUER.did, earner=EARNER.did, revoked=revoked)


# -- offline ---------------------------------------------------------------------------------


def test_offline_a_status_entry_is_indeterminate_and_no_entry_is_valid() -> None:
    with_entry = _verify(_badge(status_entry(LIST_URL, 7)))
    assert with_entry.verdict == "indeterminate"
    assert _code(with_entry, "status") == ("skipped", "status_unchecked_offline", True)
    plain = _verify(_badge())
    assert plain.verdict == "valid"
    assert _code(plain, "bns") == ("skipped", "no_resolver", False)


# -- off the BNS -------------------------------------------------------------------------------


def test_an_issuer_off_the_bns_is_verified_as_any_w3c_credential() -> None:
    badge = _badge(status_entry(LIST_URL, 7))
    lists = {STATUS_LIST_FETCHER: lambda url: _status_list(7) if url == LIST_URL else None}
    report = _verify(badge, bns=lambda uid: None, bns_publishes=lambda did: False, extra=lists)
    assert _code(report, "bns") == ("skipped", "issuer_not_on_bns", False)
    assert _code(report, "revocation") == ("skipped", "issuer_not_on_bns", False)
    assert (report.verdict, report.failed and report.failed.code) == (
        "invalid",
        "status_revocation",
    )  # revocation rests on the status entry
    clear = {STATUS_LIST_FETCHER: lambda url: _status_list()}
    report = _verify(badge, bns=lambda uid: None, bns_publishes=lambda did: False, extra=clear)
    assert report.verdict == "valid"


def test_a_publishing_issuer_must_have_the_entry() -> None:
    asked: list[str] = []

    def publishes(did: str) -> bool:
        asked.append(did)
        return True

    report = _verify(_badge(), bns=lambda uid: None, bns_publishes=publishes)
    assert report.failed is not None and report.failed.code == "bns_entry_missing"
    assert asked == [ISSUER.did]  # asked by the key that made the UID
    # When whether it publishes cannot be learned, nothing is concluded.
    report = _verify(_badge(), bns=lambda uid: None, bns_publishes=_unreachable)
    assert report.verdict == "indeterminate"


def test_an_unreachable_dht_decides_only_for_credentials_that_depend_on_it() -> None:
    badge = _badge()
    unknown = _verify(badge, bns=_unreachable, bns_publishes=_unreachable)
    assert unknown.verdict == "valid"
    assert _code(unknown, "bns") == ("skipped", "bns_unreachable", False)
    known = _verify(badge, bns=_unreachable, bns_publishes=lambda did: True)
    assert known.verdict == "indeterminate"
    assert _code(known, "bns") == ("skipped", "dht_unreachable", True)
    linked = _badge(subject=BNS_URN_PREFIX + "z" + "1" * 87)
    chained = _verify(linked, bns=_unreachable, bns_publishes=_unreachable)
    assert chained.verdict != "valid"


def test_a_node_hiding_the_issuers_pages_does_not_hide_its_entry_or_status() -> None:
    """A verifier whose every DHT answer hides the issuer's index pages takes the issuer to be
    off the BNS. The entry is still looked up: found, it decides (a BNS revocation holds);
    hidden too, the badge is a W3C credential whose status entry still tells a revocation."""
    badge = _badge(status_entry(LIST_URL, 7))
    hidden_pages = {"bns_publishes": lambda did: False}
    revoked_entry = _verify(badge, bns=lambda uid: _view(badge, revoked=True), **hidden_pages)
    assert revoked_entry.failed is not None and revoked_entry.failed.code == "revoked"
    revoked_list = {STATUS_LIST_FETCHER: lambda url: _status_list(7)}
    everything_hidden = _verify(badge, bns=lambda uid: None, extra=revoked_list, **hidden_pages)
    assert everything_hidden.failed is not None
    assert everything_hidden.failed.code == "status_revocation"


# -- the test host map -------------------------------------------------------------------------


def test_the_host_map_is_test_only(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = {"https://example.org": "http://127.0.0.1:9/ex"}
    monkeypatch.setenv(HOST_MAP_ENV, json.dumps(routes))
    assert not host_map(NodeConfig())  # not enabled
    monkeypatch.setenv(HOST_MAP_ENABLE_ENV, "1")
    hosts = host_map(NodeConfig())
    assert hosts.to_local("https://example.org/a.json") == "http://127.0.0.1:9/ex/a.json"
    assert hosts.to_local("https://example.org.evil/a") == "https://example.org.evil/a"
    assert hosts.to_public("http://127.0.0.1:9/ex/b") == "https://example.org/b"
    with pytest.raises(BadgeChainError) as refused:
        host_map(NodeConfig(public=True))
    assert refused.value.code == "host_map_refused"
    monkeypatch.setenv(HOST_MAP_ENV, "[1]")
    with pytest.raises(BadgeChainError) as invalid:
        host_map(NodeConfig())
    assert invalid.value.code == "host_map_invalid"


# -- the command line --------------------------------------------------------------------------


@pytest.fixture
async def list_server() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """A server for status lists; the dict holds what it serves (path -> credential)."""
    served: dict[str, Any] = {}

    async def handle(request: web.Request) -> web.Response:
        if request.path not in served:
            raise web.HTTPNotFound()
        return web.json_response(served[request.path])

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", served
    finally:
        await runner.cleanup()


async def _cli(home: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "badgechain.cli",
        "--home",
        str(home),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode is not None
    try:
        return process.returncode, json.loads(out)
    except ValueError:
        return process.returncode, err.decode()


@pytest.mark.slow
async def test_the_cli_fetches_by_default_and_not_offline(
    tmp_path: Path,
    list_server: tuple[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, served = list_server
    monkeypatch.setenv(HOST_MAP_ENV, json.dumps({"https://status.example": base}))
    monkeypatch.setenv(HOST_MAP_ENABLE_ENV, "1")
    badge = tmp_path / "badge.json"
    badge.write_text(json.dumps(_badge(status_entry(LIST_URL, 7))))
    served["/lists/1"] = _status_list(7)
    env = dict(os.environ)
    home = tmp_path / "home"  # no node there: the BNS is not consulted
    code, report = await _cli(home, "verify", "--json", str(badge), env=env)
    assert (code, report["verdict"]) == (1, "invalid"), report
    assert next(c for c in report["checks"] if c["name"] == "status")["code"] == (
        "status_revocation"
    )
    code, report = await _cli(home, "verify", "--offline", "--json", str(badge), env=env)
    assert (code, report["verdict"]) == (3, "indeterminate"), report
    served.clear()  # the list's server answers 404: the list is gone
    code, report = await _cli(home, "verify", "--json", str(badge), env=env)
    assert (code, report["verdict"]) == (1, "invalid")
    env[HOST_MAP_ENV] = json.dumps({"https://status.example": "http://127.0.0.1:9"})
    code, report = await _cli(home, "verify", "--json", str(badge), env=env)
    assert (code, report["verdict"]) == (3, "indeterminate"), report  # nobody answered


async def test_an_input_over_the_limit_gets_a_report(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as handle:
        handle.truncate(10 * 1024 * 1024 + 10)
    code, report = await _cli(tmp_path / "home", "verify", "--offline", "--json", str(big))
    assert (code, report["verdict"]) == (1, "invalid")
    assert report["checks"][0]["code"] == "input_too_large"


# -- the document fetcher the CLI and the node share --------------------------------------------


async def test_documents_are_fetched_bounded(list_server: tuple[str, dict[str, Any]]) -> None:
    from badgechain.node.resolvers import (
        MAX_DOCUMENT_BYTES,
        VerifierContext,
        _mapped_session,
        _OnlineResolvers,
    )

    base, served = list_server
    served["/doc"] = {"id": "x"}
    served["/big"] = {"pad": " " * MAX_DOCUMENT_BYTES}

    async def fetch(config: NodeConfig, path: str) -> Any:
        context = VerifierContext(config, lambda: NOW)
        async with _mapped_session(config) as session:  # the session verify_with opens
            online = _OnlineResolvers(context, asyncio.get_running_loop(), session)
            try:
                return await asyncio.to_thread(online.document, base + path)
            except Unreachable as exc:
                return exc.code

    got = await fetch(NodeConfig(), "/doc")
    assert json.loads(got.body) == {"id": "x"} and got.url == got.final_url == base + "/doc"
    assert await fetch(NodeConfig(), "/missing") is None  # 404: nothing there
    assert await fetch(NodeConfig(), "/big") == "fetch_too_large"
    # A public node connects to global addresses only: 127.0.0.1 is refused, not fetched.
    assert await fetch(NodeConfig(public=True), "/doc") == "unreachable"


def test_a_list_older_than_the_bns_revocation_is_not_reported_clear() -> None:
    """Issue 16 item 11: the BNS says revoked, a cached list still has the bit clear."""
    badge = _badge(status_entry(LIST_URL, 7))
    stale = {STATUS_LIST_FETCHER: lambda url: _status_list()}
    report = _verify(badge, bns=lambda uid: _view(badge, revoked=True), extra=stale)
    assert report.failed is not None and report.failed.code == "revoked"
    assert _code(report, "status") == ("skipped", "status_list_older_than_revocation", False)
    assert "bit clear" not in report.check("status").message
    fresh = _verify(badge, bns=lambda uid: _view(badge), extra=stale)
    assert fresh.verdict == "valid" and _code(fresh, "status") == ("passed", "ok", False)
