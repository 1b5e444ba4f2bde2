"""Outbound mail (node/mail.py, docs/claims.md): STARTTLS to a real SMTP server on loopback
(aiosmtpd) whose certificate comes from a test CA the node trusts through its `tls_ca_file`
setting (certificate checks stay on), and the stable codes of every way a send fails."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.uid import Uid, parse_uid
from badgechain.node import mail
from badgechain.node.app import RunningNode
from badgechain.node.config import SmtpConfig
from badgechain.storage import Kind
from tests.node.conftest import NodeNetwork, eventually
from tests.node.test_claims import (
    Mailbox,
    SmtpServer,
    _authenticator,
    _free_port,
    _issue_to_email,
    _mail_for,
    _mail_sent,
)
from tests.node.test_didweb import make_ca

LOOPBACK = "127.0.0.1"
# test_claims' plain server takes a login in plain text, as a test on 127.0.0.1 may.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def _server_context(
    directory: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Name
) -> ssl.SSLContext:
    """A server context holding a certificate for 127.0.0.1 (an IP SAN) from the test CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)]))
        .issuer_name(ca)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp.pem", directory / "smtp.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


class TlsSmtpServer(SmtpServer):
    """The loopback server of test_claims, wanting STARTTLS before anything (and a login
    over TLS only: aiosmtpd's default)."""

    def __init__(self, port: int, tls: ssl.SSLContext) -> None:
        self.mailbox = Mailbox()
        self.controller = Controller(
            self.mailbox,
            hostname=LOOPBACK,
            port=port,
            authenticator=_authenticator,
            auth_required=True,
            tls_context=tls,
            require_starttls=True,
        )
        self.port = port
        self.running = False


@dataclasses.dataclass
class Tls:
    server: TlsSmtpServer
    ca_file: Path  # the CA that signed the server's certificate
    other_ca_file: Path  # a CA that did not


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[Tls]:
    ca_file, ca_key, ca_name = make_ca(tmp_path, "smtp-ca")
    other, _, _ = make_ca(tmp_path, "other-ca")
    server = TlsSmtpServer(_free_port(), _server_context(tmp_path, ca_key, ca_name))
    server.start()
    try:
        yield Tls(server, ca_file, other)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def smtp_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(mail.PASSWORD_ENV, "s3cret")
    monkeypatch.delenv("BADGECHAIN_TLS_CA_FILE", raising=False)


def _smtp(port: int, *, starttls: bool = True) -> SmtpConfig:
    return SmtpConfig(LOOPBACK, port, starttls, "issuer", "n@example.org")


async def _queued_mail(node: RunningNode, to: str) -> Uid:
    """A pending mail written as a claim writes it, for `mail.send` to try directly."""
    uid = Uid(bytes([len(to)]) * 64)
    (write,) = mail.mail_writes(uid, to, "Your badge", "badgechain claim x --code ABCD")
    node.store.put(*write)
    return uid


async def _send_fails(node: RunningNode, smtp: SmtpConfig, ca_file: str = "") -> str:
    uid = await _queued_mail(node, "ada@example.org")
    config = node.config.with_overrides(smtp=smtp, tls_ca_file=ca_file)
    with pytest.raises(BadgeChainError) as caught:  # a MailError, or the CA file's error
        await mail.send(dataclasses.replace(node, config=config), uid)
    assert node.store.get(Kind.JOURNAL, mail.PENDING_PREFIX + uid) is not None  # still waits
    return caught.value.code


@pytest.mark.slow
async def test_a_claim_mail_goes_over_starttls_to_a_server_the_node_trusts_by_its_ca(
    node_network: NodeNetwork, http: aiohttp.ClientSession, tls: Tls
) -> None:
    issuer = await node_network.add(
        "issuer", smtp=_smtp(tls.server.port), tls_ca_file=str(tls.ca_file)
    )
    uid_text = await _issue_to_email(node_network, http, issuer, "ada@example.org")
    code, issuer_url = await _mail_for(tls.server, uid_text)
    assert code and issuer_url == issuer.gateway_url
    await eventually(_mail_sent(issuer, parse_uid(uid_text)))


async def test_starttls_refuses_a_server_whose_certificate_the_node_does_not_trust(
    node_network: NodeNetwork, tls: Tls
) -> None:
    node = await node_network.add("issuer")
    smtp = _smtp(tls.server.port)
    assert await _send_fails(node, smtp, str(tls.other_ca_file)) == "smtp_tls_failed"
    assert await _send_fails(node, smtp) == "smtp_tls_failed"  # the system's roots alone
    # Without STARTTLS the server (which wants it) refuses the mail: nothing went in clear.
    plain = _smtp(tls.server.port, starttls=False)
    assert await _send_fails(node, plain, str(tls.ca_file)) == "smtp_refused"
    assert tls.server.mailbox.messages == []


async def test_each_way_a_send_fails_has_a_stable_code(node_network: NodeNetwork) -> None:
    node = await node_network.add("issuer")
    plain = SmtpServer(_free_port())  # offers no STARTTLS
    plain.start()
    try:
        assert await _send_fails(node, _smtp(plain.port)) == "smtp_tls_failed"
        plain.mailbox.refuse = True
        assert await _send_fails(node, _smtp(plain.port, starttls=False)) == "smtp_refused"
    finally:
        plain.stop()
    assert await _send_fails(node, _smtp(plain.port, starttls=False)) == "smtp_unreachable"
    assert await _send_fails(node, SmtpConfig()) == "smtp_not_configured"
    missing_ca = str(node.home / "no-such-ca.pem")
    assert await _send_fails(node, _smtp(plain.port), missing_ca) == "tls_ca_invalid"
