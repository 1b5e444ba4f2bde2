"""A did:web issuer end to end, one OS process per node, driven by the `badgechain` CLI:
`init --did-web example.org`, issue, deliver, accept, and `verify --online` on a third
node, which reads the DID document over HTTPS from example.org's server (a TLS reverse
proxy on 127.0.0.1 with a certificate from a test CA, reached through the test host map)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from badgechain.node.outbound import HOST_MAP_ENABLE_ENV, HOST_MAP_ENV, TLS_CA_FILE_ENV
from tests.node import test_e2e
from tests.node.test_didweb import make_ca, server_context
from tests.node.test_e2e import NodeProcess, _free_port, bc, eventually, nodes  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


class _Proxy(BaseHTTPRequestHandler):
    """example.org's HTTPS server: every GET goes to the issuer's gateway, as is."""

    target = ""  # the issuer's gateway, set once it runs

    def do_GET(self) -> None:
        try:
            with urllib.request.urlopen(self.target + self.path, timeout=20) as answer:  # noqa: S310
                status, body, media = answer.status, answer.read(), answer.headers["Content-Type"]
        except urllib.error.HTTPError as error:
            status, body, media = error.code, error.read(), "application/problem+json"
        self.send_response(status)
        self.send_header("Content-Type", media or "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet


@pytest.fixture
def domain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Proxy]]:
    ca_file, ca_key, ca_name = make_ca(tmp_path, "ca")
    context: ssl.SSLContext = server_context(tmp_path, ca_key, ca_name)
    proxy = type("Proxy", (_Proxy,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), proxy)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    routes = json.dumps({"https://example.org": f"https://127.0.0.1:{port}"})
    for name, value in (
        (HOST_MAP_ENV, routes),
        (HOST_MAP_ENABLE_ENV, "1"),
        (TLS_CA_FILE_ENV, str(ca_file)),
    ):
        monkeypatch.setitem(test_e2e.ENV, name, value)  # what every node process gets
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_did_web_issuer_across_node_processes(
    tmp_path: Path,
    nodes: list[NodeProcess],  # noqa: F811 (the fixture)
    domain: type[_Proxy],
) -> None:
    issuer = NodeProcess(tmp_path / "issuer")
    ports = ["--dht-port", str(_free_port(socket.SOCK_DGRAM))]
    ports += ["--http-port", str(_free_port(socket.SOCK_STREAM))]
    made = bc(issuer.home, "init", *ports, "--did-web", "example.org", "--json")
    issuer.did = json.loads(made.stdout)["did"]
    assert json.loads(made.stdout)["did_web"] == "did:web:example.org"
    issuer.start()
    nodes.append(issuer)
    domain.target = issuer.gateway
    others = []
    for name in ("earner", "verifier"):
        node = NodeProcess(tmp_path / name)
        node.init(bootstrap=issuer.dht)
        node.start()
        nodes.append(node)
        others.append(node)
    earner, verifier = others

    class_id = bc(
        issuer.home, "class", "create", "--name", "Web", "--description", "d", "--criteria", "c"
    ).stdout.strip()
    uid = bc(issuer.home, "issue", "--class", class_id, "--to", earner.did).stdout.strip()
    eventually(lambda: uid in bc(earner.home, "inbox").stdout, 30, "delivery to the inbox")
    bc(earner.home, "accept", uid)

    report = json.loads(bc(verifier.home, "verify", "--online", "--json", uid).stdout)
    assert report["verdict"] == "valid", report
    issuer_key = next(c for c in report["checks"] if c["name"] == "issuer_key")
    assert "did:web:example.org" in issuer_key["message"]
    assert bc(verifier.home, "lookup", uid).returncode == 0
