"""`badgechain trust` through click's CliRunner: the registry a home keeps, signed registry
files between homes, and `verify --offline` reporting the trust check."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner, Result

from badgechain.cli.main import main

NAME_ARGS = ("--name", "N", "--description", "D", "--criteria", "C")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _run(runner: CliRunner, home: Path, *args: str) -> Result:
    return runner.invoke(main, ["--home", str(home), *args])


def _new_home(runner: CliRunner, home: Path) -> str:
    result = _run(runner, home, "keys", "new", "--no-passphrase")
    assert result.exit_code == 0, result.output
    return result.output.strip()


def _trust_check(runner: CliRunner, home: Path, badge: Path) -> tuple[int, str, str, str]:
    result = _run(runner, home, "verify", str(badge), "--offline", "--json")
    check = next(c for c in json.loads(result.output)["checks"] if c["name"] == "trust")
    return result.exit_code, check["status"], check["code"], check["message"]


def test_trust_add_list_remove_and_verify(runner: CliRunner, tmp_path: Path) -> None:
    issuer, verifier = tmp_path / "issuer", tmp_path / "verifier"
    issuer_did = _new_home(runner, issuer)
    _new_home(runner, verifier)
    badge = tmp_path / "badge.json"
    args = ("issue", "--offline", "--to", issuer_did, *NAME_ARGS, "--out", str(badge))
    assert _run(runner, issuer, *args).exit_code == 0

    assert _trust_check(runner, verifier, badge)[1:3] == ("skipped", "no_policy")
    result = _run(runner, verifier, "trust", "add", issuer_did, "--name", "Issuer U")
    assert result.exit_code == 0, result.output
    assert _trust_check(runner, verifier, badge) == (0, "passed", "ok", "trusted as Issuer U")
    listed = _run(runner, verifier, "trust", "list").output
    assert issuer_did in listed and "Issuer U" in listed and "(local)" in listed

    assert _run(runner, verifier, "trust", "add", issuer_did, "--deny").exit_code == 0
    assert _trust_check(runner, verifier, badge)[:3] == (1, "failed", "issuer_denied")
    assert _run(runner, verifier, "trust", "remove", issuer_did).exit_code == 0
    assert _trust_check(runner, verifier, badge)[1:3] == ("skipped", "issuer_not_listed")
    again = _run(runner, verifier, "trust", "remove", issuer_did)
    assert again.exit_code == 1 and "trust_not_listed" in again.output


def test_a_followed_publishers_file_is_imported_and_a_forged_one_refused(
    runner: CliRunner, tmp_path: Path
) -> None:
    publisher, verifier = tmp_path / "publisher", tmp_path / "verifier"
    publisher_did = _new_home(runner, publisher)
    _new_home(runner, verifier)
    listed = "did:web:university.example"
    assert _run(runner, publisher, "trust", "add", listed, "--name", "Uni").exit_code == 0
    published = tmp_path / "registry.json"
    assert _run(runner, publisher, "trust", "publish", "--out", str(published)).exit_code == 0

    refused = _run(runner, verifier, "trust", "import", str(published))
    assert refused.exit_code == 1 and "trust_signer_not_followed" in refused.output
    assert _run(runner, verifier, "trust", "follow", publisher_did).exit_code == 0

    forged = json.loads(published.read_text())
    forged["issuers"][0]["id"] = "did:web:mill.example"
    forged_file = tmp_path / "forged.json"
    forged_file.write_text(json.dumps(forged))
    refused = _run(runner, verifier, "trust", "import", str(forged_file))
    assert refused.exit_code == 1 and "trust_signature_invalid" in refused.output

    imported = _run(runner, verifier, "trust", "import", str(published))
    assert imported.exit_code == 0, imported.output
    registry = json.loads(_run(runner, verifier, "trust", "list", "--json").output)
    assert registry["entries"] == [
        {"id": listed, "name": "Uni", "status": "allow", "source": publisher_did}
    ]
    assert _run(runner, verifier, "trust", "unfollow", publisher_did).exit_code == 0
    assert json.loads(_run(runner, verifier, "trust", "list", "--json").output)["entries"] == []


@pytest.mark.parametrize(
    "args",
    [
        ("add", "not a did"),
        ("add", "did:key:z6Mk", "--name", "x" * 300),
        ("follow", "did:web:not.a.key"),
        ("import", "/no/such/file"),
    ],
)
def test_bad_input_gets_a_code_not_a_traceback(
    runner: CliRunner, tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = _run(runner, tmp_path / "home", "trust", *args)
    assert result.exit_code in (1, 2) and "error [" in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


async def test_a_registry_is_imported_from_a_url(runner: CliRunner, tmp_path: Path) -> None:
    publisher, verifier = tmp_path / "publisher", tmp_path / "verifier"
    publisher_did = _new_home(runner, publisher)
    _new_home(runner, verifier)
    assert (
        _run(runner, publisher, "trust", "add", "did:web:u.example", "--name", "U").exit_code == 0
    )
    published = _run(runner, publisher, "trust", "publish").output.encode()
    assert _run(runner, verifier, "trust", "follow", publisher_did).exit_code == 0

    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=published, content_type="application/json")

    app = web.Application()
    app.router.add_get("/registry.json", serve)
    server = web.AppRunner(app)
    await server.setup()
    site = web.TCPSite(server, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        base = f"http://127.0.0.1:{port}"
        result = await asyncio.to_thread(
            runner.invoke,
            main,
            ["--home", str(verifier), "trust", "import", f"{base}/registry.json"],
        )
        assert result.exit_code == 0, result.output
        missing = await asyncio.to_thread(
            runner.invoke, main, ["--home", str(verifier), "trust", "import", f"{base}/none"]
        )
        assert missing.exit_code == 1 and "trust_file_not_found" in missing.output
    finally:
        await server.cleanup()
    listed = json.loads(_run(runner, verifier, "trust", "list", "--json").output)
    assert listed["entries"][0]["name"] == "U"
