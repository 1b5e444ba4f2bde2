"""The trust registry (node/trust.py): its policy, signed registry files, and every gateway
verification path reporting it (GET /verify/{uid}, POST /verify, the VC API) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from click.testing import CliRunner

from badgechain.bns.record import entry_from_badge
from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import KeyPair
from badgechain.chain.multibase import multibase_encode_b58
from badgechain.chain.proof import sign_credential
from badgechain.cli.main import main
from badgechain.node.app import RunningNode
from badgechain.node.badgestore import save_badge
from badgechain.node.trust import (
    LOCAL,
    TrustEntry,
    TrustRegistry,
    import_registry,
    load_registry,
    policy_of_home,
    save_registry,
    sign_registry,
)
from tests.node.conftest import NodeNetwork
from tests.node.test_holder_presentations import _challenge, _held_badge, _present, _verify_at

NOW = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
ISSUER = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
TIMEOUT = aiohttp.ClientTimeout(total=30)


def _entry(did: str, status: str = "allow", name: str = "", source: str = LOCAL) -> TrustEntry:
    return TrustEntry(did, name, status, source)  # type: ignore[arg-type]


def test_a_registry_names_trusted_issuers_and_skips_unlisted_ones() -> None:
    policy = TrustRegistry((_entry(ISSUER, name="Example U"),)).policy()
    assert policy.check(ISSUER).message == "trusted as Example U"
    unlisted = policy.check("did:key:z6Mkother")
    assert (unlisted.status, unlisted.code) == ("skipped", "issuer_not_listed")
    denied = TrustRegistry((_entry(ISSUER, "deny"),)).policy()
    with pytest.raises(BadgeChainError) as caught:
        denied.check(ISSUER)
    assert caught.value.code == "issuer_denied"


def test_the_owner_overrides_an_imported_list_and_imported_denials_win() -> None:
    signer = "did:key:z6Mksigner"
    registry = TrustRegistry(
        (
            _entry(ISSUER, "deny", source=signer),
            _entry(ISSUER, name="Mine"),
            _entry("did:web:a.example", "allow", source=signer),
            _entry("did:web:a.example", "deny", source="did:key:z6Mkother"),
        )
    )
    policy = registry.policy()
    assert policy.check(ISSUER).status == "passed"
    with pytest.raises(BadgeChainError):
        policy.check("did:web:a.example")


def test_a_home_without_a_registry_has_no_policy(tmp_path: Path) -> None:
    assert policy_of_home(tmp_path) is None
    save_registry(tmp_path, TrustRegistry((_entry(ISSUER, name="U"),)))
    policy = policy_of_home(tmp_path)
    assert policy is not None and policy.names == {ISSUER: "U"}
    assert (tmp_path / "trust.json").stat().st_mode & 0o777 == 0o600


def _followed(home: Path, key: KeyPair) -> None:
    save_registry(home, TrustRegistry(follows=(key.did,)))


def test_a_signed_registry_file_is_imported_once_and_never_replayed(tmp_path: Path) -> None:
    publisher = KeyPair.generate()
    published = sign_registry(TrustRegistry((_entry(ISSUER, name="Pub U"),)), publisher, NOW)
    _followed(tmp_path, publisher)
    assert import_registry(tmp_path, json.dumps(published).encode()) == (publisher.did, 1)
    assert load_registry(tmp_path).policy().names == {ISSUER: "Pub U"}
    with pytest.raises(BadgeChainError) as caught:
        import_registry(tmp_path, json.dumps(published).encode())
    assert caught.value.code == "trust_registry_stale"
    newer = sign_registry(TrustRegistry(), publisher, NOW + dt.timedelta(days=1))
    assert import_registry(tmp_path, json.dumps(newer).encode())[1] == 0
    assert load_registry(tmp_path).policy().allow == frozenset()  # its entries are replaced


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda d: d["issuers"][0].update(name="Evil U"), "trust_signature_invalid"),
        (lambda d: d.update(signature="z111"), "trust_signature_invalid"),
        (lambda d: d.update(signature=5), "trust_signature_invalid"),
        (lambda d: d.update(signer=KeyPair.generate().did), "trust_signer_not_followed"),
        (lambda d: d.update(issuers="all"), "trust_file_invalid"),
        (lambda d: d.update(type="Other"), "trust_file_invalid"),
    ],
)
def test_a_registry_file_that_does_not_verify_is_refused(
    tmp_path: Path, change: Any, code: str
) -> None:
    publisher = KeyPair.generate()
    document = sign_registry(TrustRegistry((_entry(ISSUER, name="U"),)), publisher, NOW)
    _followed(tmp_path, publisher)
    change(document)
    with pytest.raises(BadgeChainError) as caught:
        import_registry(tmp_path, json.dumps(document).encode())
    assert caught.value.code == code
    assert load_registry(tmp_path).entries == ()


@pytest.mark.parametrize("data", [b"", b"[]", b"{" * 5000, b"\xff" * 10, b"x" * (2 << 20)])
def test_garbage_registry_files_are_refused_with_a_code(tmp_path: Path, data: bytes) -> None:
    _followed(tmp_path, KeyPair.generate())
    with pytest.raises(BadgeChainError) as caught:
        import_registry(tmp_path, data)
    assert caught.value.code


def test_a_damaged_home_file_trusts_no_one(tmp_path: Path) -> None:
    (tmp_path / "trust.json").write_text('{"version": 1, "entries": 5}')
    policy = policy_of_home(tmp_path)
    assert policy is not None and policy.check(ISSUER).code == "issuer_not_listed"


# -- the gateway ------------------------------------------------------------------------------


def _badge(issuer: RunningNode, earner_did: str) -> dict[str, Any]:
    valid_from = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    achievement = build_achievement(
        issuer.did,
        achievement_id=f"urn:uuid:{uuid.uuid4()}",
        name="Trusted thing",
        description="D",
        criteria="C",
    )
    credential = build_credential(
        issuer_did=issuer.did,
        subject_id=earner_did,
        achievement=achievement,
        valid_from=valid_from,
        credential_id=f"urn:uuid:{uuid.uuid4()}",
    )
    return sign_credential(credential, issuer.key, created=valid_from)


async def _published(issuer: RunningNode, badge: dict[str, Any]) -> str:
    """The badge published with its issuer's node as its earner and location."""
    entry = entry_from_badge(badge, issuer.key, issuer.key.public_key, int(time.time()))
    await issuer.names.publish(issuer.key, entry)
    uid = multibase_encode_b58(entry.uid)
    save_badge(issuer.store, badge, {"role": "received", "state": "accepted"})
    await issuer.names.set_location(issuer.key, entry.uid, [f"{issuer.gateway_url}/badges/{uid}"])
    return uid


async def _trust_reports(node: RunningNode, uid: str, badge: dict[str, Any]) -> list[Any]:
    """The trust check of each gateway path: GET /verify/{uid}, POST /verify, the VC API."""
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        async with session.get(f"{node.gateway_url}/verify/{uid}") as response:
            reports = [await response.json()]
        async with session.post(f"{node.gateway_url}/verify", json=badge) as response:
            reports.append(await response.json())
        body = {"verifiableCredential": badge, "options": {}}
        async with session.post(f"{node.gateway_url}/credentials/verify", json=body) as response:
            reports.append((await response.json())["report"])
    return [
        (
            r["verdict"],
            *next(
                (c["status"], c["code"], c["message"]) for c in r["checks"] if c["name"] == "trust"
            ),
        )
        for r in reports
    ]


@pytest.mark.slow
async def test_every_gateway_path_reports_the_registry(node_network: NodeNetwork) -> None:
    issuer, verifier = await node_network.start(2)
    badge = _badge(issuer, issuer.did)
    uid = await _published(issuer, badge)

    reports = await _trust_reports(verifier, uid, badge)
    assert {r[:3] for r in reports} == {("valid", "skipped", "no_policy")}, reports

    save_registry(verifier.home, TrustRegistry((_entry("did:web:other.example"),)))
    reports = await _trust_reports(verifier, uid, badge)
    assert {r[:3] for r in reports} == {("valid", "skipped", "issuer_not_listed")}, reports

    save_registry(verifier.home, TrustRegistry((_entry(issuer.did, name="Node Zero U"),)))
    reports = await _trust_reports(verifier, uid, badge)
    assert set(reports) == {("valid", "passed", "ok", "trusted as Node Zero U")}, reports

    save_registry(verifier.home, TrustRegistry((_entry(issuer.did, "deny"),)))
    reports = await _trust_reports(verifier, uid, badge)
    assert {r[:3] for r in reports} == {("invalid", "failed", "issuer_denied")}, reports


@pytest.mark.slow
async def test_a_presentation_reports_the_verifiers_registry(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer, earner, verifier = await node_network.start(3)
    answer = await _held_badge(node_network, http, issuer, earner)
    save_registry(verifier.home, TrustRegistry((_entry(issuer.did, name="Presenting U"),)))
    challenge = await _challenge(node_network, http, verifier)
    presentation = await _present(node_network, http, earner, answer["uid"], challenge)
    status, result = await _verify_at(node_network, http, verifier, presentation, challenge)
    assert status == 200 and result["verified"], result
    trust = next(c for c in result["report"]["checks"] if c["name"] == "trust")
    assert trust["status"] == "passed" and "trusted as Presenting U" in trust["message"], trust

    save_registry(verifier.home, TrustRegistry((_entry(issuer.did, "deny"),)))
    challenge = await _challenge(node_network, http, verifier)
    presentation = await _present(node_network, http, earner, answer["uid"], challenge)
    status, result = await _verify_at(node_network, http, verifier, presentation, challenge)
    assert not result.get("verified"), result
    assert "issuer_denied" in json.dumps(result), result


@pytest.mark.slow
async def test_an_import_reports_the_registry_and_refuses_a_denied_issuer(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    """The backpack's import is a verification path too (docs/backpack.md)."""
    issuer, earner = await node_network.start(2)
    url = f"{earner.gateway_url}/admin/badges/import"

    async def imported(badge: dict[str, Any]) -> tuple[int, Any]:
        data = base64.b64encode(json.dumps(badge).encode()).decode()
        async with http.post(url, json={"data": data}, headers=node_network.admin) as response:
            return response.status, await response.json(content_type=None)

    save_registry(earner.home, TrustRegistry((_entry(issuer.did, "deny"),)))
    status, problem = await imported(_badge(issuer, KeyPair.generate().did))
    assert (status, problem["code"]) == (422, "badge_invalid"), problem
    assert "issuer_denied" in problem["detail"], problem

    save_registry(earner.home, TrustRegistry((_entry(issuer.did, name="Imported U"),)))
    status, answer = await imported(_badge(issuer, KeyPair.generate().did))
    assert status == 201, answer
    trust = next(c for c in answer["report"]["checks"] if c["name"] == "trust")
    assert (trust["status"], trust["message"]) == ("passed", "trusted as Imported U"), trust


@pytest.mark.slow
async def test_the_cli_paths_report_the_homes_registry(
    node_network: NodeNetwork, tmp_path: Path
) -> None:
    """`verify --online UID` (the node's registry) and `verify FILE --gateway` (the home's)."""
    issuer, verifier = await node_network.start(2)
    badge = _badge(issuer, issuer.did)
    uid = await _published(issuer, badge)
    home = node_network.write_cli_home(verifier)
    save_registry(verifier.home, TrustRegistry((_entry(issuer.did, name="Cli U"),)))
    (tmp_path / "badge.json").write_text(json.dumps(badge))
    runs = (
        ["verify", "--online", uid],
        ["verify", str(tmp_path / "badge.json"), "--gateway", verifier.gateway_url],
    )
    for args in runs:
        result = await asyncio.to_thread(
            CliRunner().invoke, main, ["--home", str(home), *args, "--json"]
        )
        assert result.exit_code == 0, (args, result.output)
        trust = next(c for c in json.loads(result.output)["checks"] if c["name"] == "trust")
        assert (trust["status"], trust["message"]) == ("passed", "trusted as Cli U"), args

    save_registry(verifier.home, TrustRegistry((_entry(issuer.did, "deny"),)))
    for args in runs:
        result = await asyncio.to_thread(CliRunner().invoke, main, ["--home", str(home), *args])
        assert result.exit_code == 1 and "issuer_denied" in result.output, (args, result.output)


@pytest.mark.slow
async def test_a_crawl_judges_issuers_by_the_homes_registry(
    node_network: NodeNetwork, tmp_path: Path
) -> None:
    """`badgechain crawl` is a verification path too: a denied issuer's badge is invalid."""
    issuer, _ = await node_network.start(2)
    badge = _badge(issuer, issuer.did)
    await _published(issuer, badge)
    page = b'<!doctype html><html><body><a href="/badge.json">mine</a></body></html>'
    files = {
        "/": (page, "text/html"),
        "/badge.json": (json.dumps(badge).encode(), "application/json"),
    }

    async def serve(request: web.Request) -> web.Response:
        if request.path not in files:
            raise web.HTTPNotFound()
        body, media = files[request.path]
        return web.Response(body=body, content_type=media)

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    home = tmp_path / "crawler"
    args = ["--home", str(home), "crawl", "--private", f"http://127.0.0.1:{port}/"]
    args += ["--gateway", issuer.gateway_url, "--out", str(tmp_path / "report.json")]
    found = {}
    try:
        for status in ("allow", "deny"):
            save_registry(home, TrustRegistry((_entry(issuer.did, status, name="Crawled U"),)))
            result = await asyncio.to_thread(CliRunner().invoke, main, args)
            assert result.exit_code == 0, result.output
            (item,) = json.loads((tmp_path / "report.json").read_text())["badges"]
            found[status] = (item["category"], item.get("code"))
    finally:
        await runner.cleanup()
    assert found["allow"][0] == "valid", found
    assert found["deny"] == ("invalid", "issuer_denied"), found
