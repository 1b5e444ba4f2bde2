"""did:web issuers: `init --did-web`, the DID document where did:web "Read" looks, and
verifiers reading it over HTTPS with certificate checks, trusting a test CA given through
BADGECHAIN_TLS_CA_FILE (never by turning the checks off).

The domain's HTTPS server is a reverse proxy on 127.0.0.1 with a certificate for
example.org from a CA made here; the test host map sends https://example.org to it, and
the certificate is still checked for example.org.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from badgechain.chain.errors import IdentityError
from badgechain.cli.main import main
from badgechain.node.app import RunningNode
from badgechain.node.config import load_config
from badgechain.node.didweb import did_web_from_text, document_path
from badgechain.node.outbound import HOST_MAP_ENABLE_ENV, HOST_MAP_ENV, TLS_CA_FILE_ENV
from tests.node.conftest import NodeNetwork
from tests.node.test_issuer import make_class
from tests.node.test_personas import admin, arrives, call

DOMAIN = "example.org"
TIMEOUT = aiohttp.ClientTimeout(total=30)


# -- a test CA and the domain's HTTPS server ------------------------------------------------


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca(directory: Path, name: str) -> tuple[Path, ec.EllipticCurvePrivateKey, x509.Name]:
    """A CA certificate (written to DIRECTORY/NAME.pem), its key and its name."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"BadgeChain test CA {name}")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{name}.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path, key, subject


def server_context(
    directory: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Name
) -> ssl.SSLContext:
    """The TLS context of a server holding a certificate for example.org from the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)]))
        .issuer_name(ca)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(DOMAIN)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(_pem_key(key))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


@dataclass
class Domain:
    """example.org's HTTPS server: it proxies each path prefix to a node's gateway."""

    port: int
    ca_file: Path
    routes: dict[str, RunningNode]  # "/" or "/school/" -> the node serving it
    asked: list[str]  # the paths it was asked for, in order


@pytest.fixture
async def domain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Domain]:
    ca_file, ca_key, ca_name = make_ca(tmp_path, "ca")
    routes: dict[str, RunningNode] = {}
    asked: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        asked.append(request.path)
        prefix = max((p for p in routes if request.path.startswith(p)), key=len, default=None)
        if prefix is None:
            return web.Response(status=404)
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.get(routes[prefix].gateway_url + request.path) as answer,
        ):
            body = await answer.read()
            return web.Response(body=body, status=answer.status, content_type=answer.content_type)

    app = web.Application()
    app.router.add_get("/{tail:.*}", proxy)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(
            runner, "127.0.0.1", 0, ssl_context=server_context(tmp_path, ca_key, ca_name)
        )
        await site.start()
        port = runner.addresses[0][1]
        monkeypatch.setenv(
            HOST_MAP_ENV, json.dumps({f"https://{DOMAIN}": f"https://127.0.0.1:{port}"})
        )
        monkeypatch.setenv(HOST_MAP_ENABLE_ENV, "1")
        monkeypatch.setenv(TLS_CA_FILE_ENV, str(ca_file))
        yield Domain(port, ca_file, routes, asked)
    finally:
        await runner.cleanup()


# -- helpers ----------------------------------------------------------------------------------


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as response:
        return response.status, await response.json(content_type=None)


async def verify(http: aiohttp.ClientSession, node: RunningNode, badge: Any) -> dict[str, Any]:
    async with http.post(f"{node.gateway_url}/verify", json=badge) as response:
        assert response.status == 200
        report: dict[str, Any] = await response.json(content_type=None)
        return report


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["name"] == name)


async def issued_and_accepted(
    network: NodeNetwork,
    http: aiohttp.ClientSession,
    issuer: RunningNode,
    earner: RunningNode,
) -> dict[str, Any]:
    """A badge `issuer` issues to `earner`, which accepts it; the badge as served."""
    class_id = await make_class(network, http, issuer)
    body = {"class_id": class_id, "to": earner.did}
    uid = str((await admin(network, http, issuer, "POST", "/admin/issue", body))["uid"])
    await arrives(network, http, earner, uid)
    await admin(network, http, earner, "POST", "/admin/accept", {"uid": uid})
    status, badge = await get_json(http, f"{earner.gateway_url}/badges/{uid}.json")
    assert status == 200, badge
    return dict(badge)


# -- the tests --------------------------------------------------------------------------------


def test_did_web_names_parse_strictly() -> None:
    assert did_web_from_text("example.org") == "did:web:example.org"
    assert did_web_from_text("example.org:school") == "did:web:example.org:school"
    assert did_web_from_text("did:web:example.org") == "did:web:example.org"
    assert document_path("did:web:example.org") == "/.well-known/did.json"
    assert document_path("did:web:example.org:school") == "/school/did.json"
    for bad in ("127.0.0.1", "localhost", "example.org:a:b", "exa mple.org", "x" * 300 + ".org"):
        with pytest.raises(IdentityError) as raised:
            did_web_from_text(bad)
        assert raised.value.code == "did_invalid", bad


def test_init_did_web_writes_the_did_and_refuses_bad_names(tmp_path: Path) -> None:
    home = tmp_path / "issuer"
    ca = tmp_path / "ca.pem"
    command = ["--home", str(home), "init", "--no-passphrase", "--json"]
    made = CliRunner().invoke(
        main, [*command, "--did-web", "example.org:school", "--tls-ca-file", str(ca)]
    )
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["did_web"] == "did:web:example.org:school"
    config = load_config(home)
    assert config.did_web == "did:web:example.org:school"
    assert config.tls_ca_file == str(ca.resolve())
    for bad in ("10.0.0.1", "example.org:a:b", "nodots"):
        refused = CliRunner().invoke(
            main, ["--home", str(tmp_path / bad), "init", "--no-passphrase", "--did-web", bad]
        )
        assert refused.exit_code == 2, refused.output
        assert "--did-web" in refused.output
        assert not (tmp_path / bad / "config.toml").exists()


async def test_a_did_web_issuer_is_verified_over_https(
    node_network: NodeNetwork, http: aiohttp.ClientSession, domain: Domain, tmp_path: Path
) -> None:
    """Badge, class and status list name did:web:example.org; the earner's node and a
    verifier read its document over HTTPS through example.org's server, certificate
    checked against the test CA."""
    issuer = await node_network.add(did_web="did:web:example.org")
    earner = await node_network.add()
    verifier = await node_network.add()
    domain.routes["/"] = issuer

    status, document = await get_json(http, f"{issuer.gateway_url}/.well-known/did.json")
    assert status == 200 and document["id"] == "did:web:example.org"
    assert document["assertionMethod"] == ["did:web:example.org#key-1"]

    badge = await issued_and_accepted(node_network, http, issuer, earner)
    assert (
        badge["issuer"] == "did:web:example.org" or badge["issuer"]["id"] == "did:web:example.org"
    )
    assert badge["proof"]["verificationMethod"] == "did:web:example.org#key-1"
    assert "/.well-known/did.json" in domain.asked  # the earner's node read it to accept

    report = await verify(http, verifier, badge)
    assert report["verdict"] == "valid", report
    assert "did:web:example.org" in check(report, "issuer_key")["message"]
    assert check(report, "bns")["status"] == "passed"
    status_check = check(report, "status")
    assert status_check["status"] == "passed", status_check

    # The CLI reads the same setting: `badgechain verify FILE` resolves the did:web itself.
    path = tmp_path / "badge.json"
    path.write_text(json.dumps(badge))
    command = ["--home", str(tmp_path / "cli"), "verify", str(path), "--json"]
    result = await asyncio.to_thread(
        CliRunner().invoke, main, [*command, "--gateway", verifier.gateway_url]
    )
    cli_report = json.loads(result.output)
    assert cli_report["verdict"] == "valid", result.output
    assert "did:web:example.org" in check(cli_report, "issuer_key")["message"]


async def test_no_trusted_ca_means_no_answer_not_a_skipped_check(
    node_network: NodeNetwork,
    http: aiohttp.ClientSession,
    domain: Domain,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """With the system's roots only, or another CA, the certificate of example.org is
    refused: the issuer's key is unreachable and the verdict indeterminate."""
    issuer = await node_network.add(did_web="did:web:example.org")
    earner = await node_network.add()
    verifier = await node_network.add()
    domain.routes["/"] = issuer
    badge = await issued_and_accepted(node_network, http, issuer, earner)

    other_ca, _, _ = make_ca(tmp_path, "other")
    for ca in (None, other_ca):
        if ca is None:
            monkeypatch.delenv(TLS_CA_FILE_ENV)
        else:
            monkeypatch.setenv(TLS_CA_FILE_ENV, str(ca))
        report = await verify(http, verifier, badge)
        assert report["verdict"] == "indeterminate", report
        assert check(report, "issuer_key")["code"] == "unreachable"

    monkeypatch.setenv(TLS_CA_FILE_ENV, str(tmp_path / "missing.pem"))  # a broken setting
    async with http.post(f"{verifier.gateway_url}/verify", json=badge) as response:
        problem = await response.json(content_type=None)
    assert response.status >= 400 and problem["code"] == "tls_ca_invalid", problem


async def test_a_did_web_with_a_path_is_served_at_that_path(
    node_network: NodeNetwork, http: aiohttp.ClientSession, domain: Domain
) -> None:
    school = await node_network.add(did_web="did:web:example.org:school")
    earner = await node_network.add()
    verifier = await node_network.add()
    domain.routes["/school/"] = school

    status, document = await get_json(http, f"{school.gateway_url}/school/did.json")
    assert status == 200 and document["id"] == "did:web:example.org:school"
    status, problem = await get_json(http, f"{school.gateway_url}/other/did.json")
    assert status == 404 and problem["code"] == "did_not_found"
    status, _ = await get_json(http, f"{earner.gateway_url}/school/did.json")
    assert status == 404  # a node without a did:web serves none

    badge = await issued_and_accepted(node_network, http, school, earner)
    assert badge["proof"]["verificationMethod"] == "did:web:example.org:school#key-1"
    report = await verify(http, verifier, badge)
    assert report["verdict"] == "valid", report
    assert "/school/did.json" in domain.asked


async def test_the_vc_api_issues_as_the_did_web_too(
    node_network: NodeNetwork, http: aiohttp.ClientSession, domain: Domain
) -> None:
    issuer = await node_network.add(did_web="did:web:example.org")
    verifier = await node_network.add()
    domain.routes["/"] = issuer
    credential = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "credentialSubject": {"id": "did:example:someone"},
    }
    body = {"credential": credential, "options": {}}
    signed = (await admin(node_network, http, issuer, "POST", "/credentials/issue", body))[
        "verifiableCredential"
    ]
    assert signed["issuer"] == "did:web:example.org"
    assert signed["proof"]["verificationMethod"] == "did:web:example.org#key-1"
    report = await verify(http, verifier, signed)
    assert check(report, "proof")["status"] == "passed", report
    assert "did:web:example.org" in check(report, "issuer_key")["message"]
    wrong = credential | {"issuer": issuer.did}  # it issues as its did:web, not its did:key
    status, problem = await call(
        http, issuer, "POST", "/credentials/issue", {"credential": wrong}, node_network.admin
    )
    assert (status, problem["code"]) == (422, "issuer_mismatch")


def test_a_node_whose_ca_file_is_unreadable_does_not_start(tmp_path: Path) -> None:
    home = tmp_path / "node"
    command = ["--home", str(home), "init", "--no-passphrase", "--http-port", "0"]
    made = CliRunner().invoke(main, [*command, "--tls-ca-file", str(tmp_path / "none.pem")])
    assert made.exit_code == 0, made.output
    start = [sys.executable, "-m", "badgechain.cli", "--home", str(home), "node", "start"]
    done = subprocess.run(start, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0 and "tls_ca_invalid" in done.stderr, done.stderr
