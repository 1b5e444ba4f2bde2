"""Email claims (issue 14 item 7, docs/claims.md): the BNS hand-over, the claim mail over a
real SMTP server on loopback (aiosmtpd), and a claim end to end across two nodes."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import json
import re
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from click.testing import CliRunner

from badgechain.bns.errors import RecordError
from badgechain.bns.record import (
    MAX_NEW_REASON_BYTES,
    MAX_URL_CHARS,
    MAX_URLS,
    MAX_URLS_TOTAL_CHARS,
    MAX_VALUE_BYTES,
    Location,
    Record,
    Revocation,
    accept_store,
    make_entry,
    make_handover,
    make_location,
    merge,
    validate_record,
)
from badgechain.chain.keys import KeyPair
from badgechain.chain.uid import Uid, parse_uid
from badgechain.cli.main import main
from badgechain.node import claims, classes, mail, work
from badgechain.node.app import RunningNode
from badgechain.node.claim_proof import sign_claim
from badgechain.node.config import (
    CONFIG_FILE,
    ConfigError,
    NodeConfig,
    SmtpConfig,
    load_config,
    save_config,
)
from badgechain.storage import Kind
from tests.node.conftest import NodeNetwork, eventually
from tests.node.fakeclock import FakeClock

# The loopback server takes a login in plain text, as a test on 127.0.0.1 may.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

CLASS = {"name": "Claimable", "description": "Issued to an address", "criteria": "Asked for it"}
_CODE = re.compile(r"badgechain claim (\S+) --code (\S+) --issuer (\S+)")


# --- the BNS hand-over (pure) --------------------------------------------------------------


def _email_only_entry(issuer: KeyPair) -> tuple[Uid, Record]:
    message = bytes(range(64))
    uid = Uid(issuer.sign(message))
    return uid, Record(make_entry(issuer, uid, message, None, 1))


def test_a_hand_over_moves_the_location_writer_to_the_earner_key() -> None:
    issuer, earner, other = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    uid, bare = _email_only_entry(issuer)
    by_issuer = validate_record(replace(bare, location=make_location(issuer, uid, (), 5)))
    handed = validate_record(replace(bare, handover=make_handover(issuer, uid, earner.public_key)))
    assert Record.from_wire_bytes(handed.to_wire_bytes()) == handed
    assert Record.from_wire_bytes(bare.to_wire_bytes()) == bare  # four fields, as before

    # Once handed over the issuer's location drops out, in whatever order writes arrive.
    assert merge(by_issuer, handed).location is None
    assert merge(handed, by_issuer) == merge(by_issuer, handed)
    earner_location = make_location(earner, uid, ("https://earner.example/b",), 1)
    mine = validate_record(replace(handed, location=earner_location))
    assert accept_store(by_issuer, mine).location == earner_location
    with pytest.raises(RecordError) as caught:  # the issuer writes no more
        validate_record(replace(handed, location=make_location(issuer, uid, (), 6)))
    assert caught.value.code == "location_signature_invalid"

    forged = make_handover(other, uid, other.public_key)
    with pytest.raises(RecordError) as caught:
        validate_record(replace(bare, handover=forged))
    assert caught.value.code == "handover_signature_invalid"
    second = replace(bare, handover=make_handover(issuer, uid, other.public_key))
    with pytest.raises(RecordError) as caught:
        merge(handed, validate_record(second))
    assert caught.value.code == "handover_conflict"


def test_a_badge_with_an_earner_key_cannot_be_handed_over() -> None:
    issuer, earner = KeyPair.generate(), KeyPair.generate()
    message = bytes(64)
    uid = Uid(issuer.sign(message))
    entry = make_entry(issuer, uid, message, earner.public_key, 1)
    record = Record(entry, handover=make_handover(issuer, uid, issuer.public_key))
    with pytest.raises(RecordError) as caught:
        validate_record(record)
    assert caught.value.code == "handover_not_allowed"


def test_the_worst_case_record_with_a_hand_over_fits_one_datagram() -> None:
    issuer = KeyPair.generate()
    uid, bare = _email_only_entry(issuer)
    entry = replace(bare.entry, created=2**64 - 1, stamp=2**64 - 1)
    share = MAX_URLS_TOTAL_CHARS // MAX_URLS
    many = tuple("https://x.example/" + "a" * (share - 18) for _ in range(MAX_URLS))
    longest = ("https://x.example/" + "a" * (MAX_URL_CHARS - 18),)
    revocation = Revocation(uid, "é" * (MAX_NEW_REASON_BYTES // 2), 2**64 - 1, bytes(64))
    handover = make_handover(issuer, uid, KeyPair.generate().public_key)
    for urls in (many, longest):
        record = Record(entry, Location(uid, urls, 2**64 - 1, bytes(64)), revocation, handover)
        assert len(record.to_wire_bytes()) <= MAX_VALUE_BYTES


# --- a real SMTP server on loopback --------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler keeping what it is sent; `refuse` answers every recipient 550."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.refuse = False
        self.lock = threading.Lock()

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.refuse:
            return "550 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        with self.lock:
            self.messages.append(email.message_from_bytes(raw))
        return "250 OK"

    def codes(self) -> list[tuple[str, str, str]]:
        with self.lock:
            bodies = [str(cast(bytes, m.get_payload(decode=True)), "utf-8") for m in self.messages]
        codes = [found.groups() for body in bodies if (found := _CODE.search(body))]
        return cast(list[tuple[str, str, str]], codes)  # _CODE has three groups


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    good = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret"
    return AuthResult(success=good)


class SmtpServer:
    """A loopback SMTP server that wants a login (user any, password "s3cret"); plain text
    is allowed on loopback (`auth_require_tls=False`)."""

    def __init__(self, port: int) -> None:
        self.mailbox = Mailbox()
        self.controller = Controller(
            self.mailbox,
            hostname="127.0.0.1",
            port=port,
            authenticator=_authenticator,
            auth_required=True,
            auth_require_tls=False,
        )
        self.port = port
        self.running = False

    def start(self) -> None:
        self.controller.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.controller.stop()
            self.running = False


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A loopback SMTP server, not started: a test starts it (and may first issue while it
    is down)."""
    server = SmtpServer(_free_port())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def smtp_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(mail.PASSWORD_ENV, "s3cret")


async def _issuer_and_earner(
    network: NodeNetwork, smtp: SmtpServer
) -> tuple[RunningNode, RunningNode]:
    network.settings = dataclasses.replace(
        network.settings, queue_retry_first_s=0.05, queue_retry_max_s=0.2, queue_tick_s=0.05
    )
    config = SmtpConfig("127.0.0.1", smtp.port, False, "issuer", "n@example.org")
    issuer = await network.add("issuer", smtp=config)
    earner = await network.add("earner")
    return issuer, earner


async def _post(
    http: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with http.post(url, json=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)


def _now(node: RunningNode) -> int:
    return int(node.clock().timestamp())


def _signed_ask(issuer: RunningNode, earner: KeyPair, uid: Uid, code: str) -> dict[str, Any]:
    """The body of POST /claims/{uid} as an earner's node sends it: signed by `earner`."""
    proof = sign_claim(earner, uid, issuer.key.public_key, code, _now(issuer))
    return {"code": code, "earner": earner.did, **proof.to_json()}


async def _issue_to_email(
    network: NodeNetwork, http: aiohttp.ClientSession, issuer: RunningNode, address: str
) -> str:
    base, admin = issuer.gateway_url, network.admin
    made = classes.create_class(issuer, **CLASS, image=None).to_json()
    body = {"class_id": made["id"], "email": address}
    status, issued = await _post(http, base + "/admin/issue", body, admin)
    assert status == 201, issued
    return str(issued["uid"])


async def _mail_for(smtp: SmtpServer, uid: str) -> tuple[str, str]:
    async def arrived() -> bool:
        return any(found[0] == uid for found in smtp.mailbox.codes())

    await eventually(arrived)
    (code, issuer_url) = next(
        (c, u) for found_uid, c, u in smtp.mailbox.codes() if found_uid == uid
    )
    return code, issuer_url


def _mail_sent(node: RunningNode, uid: Uid) -> Callable[[], Awaitable[bool]]:
    async def sent() -> bool:
        return node.store.get(Kind.JOURNAL, mail.PENDING_PREFIX + uid) is None

    return sent


@pytest.mark.slow
async def test_a_claim_end_to_end_hands_the_badge_over_to_the_earner(
    node_network: NodeNetwork, http: aiohttp.ClientSession, smtp_server: SmtpServer
) -> None:
    smtp_server.start()
    issuer, earner = await _issuer_and_earner(node_network, smtp_server)
    uid_text = await _issue_to_email(node_network, http, issuer, "ada@example.org")
    uid = parse_uid(uid_text)
    code, issuer_url = await _mail_for(smtp_server, uid_text)
    (message,) = smtp_server.mailbox.messages
    assert message["To"] == "ada@example.org" and message["From"] == "n@example.org"
    assert issuer_url == issuer.gateway_url
    stored = issuer.store.get(Kind.JOURNAL, claims.CLAIM_PREFIX + uid)
    assert stored is not None and code.encode() not in stored  # only a hash of the code
    await eventually(_mail_sent(issuer, uid))  # the pending mail goes once the server took it

    # Until the claim the issuer writes the location: its own gateway, which is how the
    # earner's node finds the issuer when no --issuer is given.
    fresh = await earner.names._lookup(uid)
    assert fresh.location is not None and fresh.location.urls[0].startswith(issuer_url)
    status, wrong = await _post(
        http, earner.gateway_url + "/admin/claims",
        {"uid": uid_text, "code": "AAAA-AAAA-AAAA"}, node_network.admin,
    )  # fmt: skip
    assert (status, wrong["code"]) == (422, "claim_code_wrong")
    held = await issuer.names.set_location(issuer.key, uid, ["https://issuer.example/b"])
    assert held.handover is None and held.location is not None

    body = {"uid": uid_text, "code": code, "issuer": issuer_url}
    status, claimed = await _post(
        http, earner.gateway_url + "/admin/claims", body, node_network.admin
    )
    assert (status, claimed["state"]) == (200, "accepted"), claimed

    record = await issuer.names.resolve(uid)
    assert record.handover is not None and record.handover.earner_key == earner.key.public_key
    fresh = await node_network.nodes[0].names._lookup(uid)
    assert fresh.location is not None and fresh.location.urls[0].startswith(earner.gateway_url)
    with pytest.raises(RecordError) as caught:  # the issuer writes it no more
        await issuer.names.set_location(issuer.key, uid, ["https://issuer.example/c"])
    assert caught.value.code == "not_location_writer"

    # The code is spent: another key cannot use it; the same key asking again is answered.
    other = _signed_ask(issuer, KeyPair.generate(), uid, code)
    status, used = await _post(http, f"{issuer.gateway_url}/claims/{uid_text}", other)
    assert (status, used["code"]) == (409, "claim_code_used")
    home = node_network.write_cli_home(earner)  # through the CLI this time
    args = ["--home", str(home), "claim", uid_text, "--code", code, "--issuer", issuer_url]
    ran = await asyncio.to_thread(CliRunner().invoke, main, [*args, "--json"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output) == {"uid": uid_text, "state": "accepted"}
    wrong_args = [*args[:5], "ZZZZ-ZZZZ-ZZZZ", *args[6:]]
    ran = await asyncio.to_thread(CliRunner().invoke, main, wrong_args)
    assert ran.exit_code != 0 and "claim_code_wrong" in ran.output, ran.output


@pytest.mark.slow
async def test_wrong_codes_are_rate_limited_and_an_old_code_has_expired(
    node_network: NodeNetwork, http: aiohttp.ClientSession, smtp_server: SmtpServer
) -> None:
    smtp_server.start()
    issuer, earner = await _issuer_and_earner(node_network, smtp_server)
    uid_text = await _issue_to_email(node_network, http, issuer, "bob@example.org")
    code, _ = await _mail_for(smtp_server, uid_text)
    url = f"{issuer.gateway_url}/claims/{uid_text}"
    uid = parse_uid(uid_text)
    for _ in range(claims.MAX_FAILURES):
        wrong = _signed_ask(issuer, earner.key, uid, "WRONG-CODE")
        status, answer = await _post(http, url, wrong)
        assert (status, answer["code"]) == (422, "claim_code_wrong")
    ask = _signed_ask(issuer, earner.key, uid, code)
    async with http.post(url, json=ask) as response:  # the right one waits
        answer = await response.json(content_type=None)
        assert (response.status, answer["code"]) == (429, "claim_rate_limited")
        assert 0 < int(response.headers["Retry-After"]) <= claims.FAILURE_WINDOW_S + 1
    status, answer = await _post(http, url, {"code": code, "earner": "did:key:nope"})
    assert (status, answer["code"]) == (400, "earner_invalid")

    later = dataclasses.replace(issuer, clock=FakeClock())  # ten days on: past the week
    proof = sign_claim(earner.key, uid, issuer.key.public_key, code, _now(later))
    with pytest.raises(claims.ClaimError) as caught:
        await claims.redeem(later, uid, code, earner.key.public_key, proof)
    assert caught.value.code == "claim_code_expired" and caught.value.http_status == 422


@pytest.mark.slow
async def test_a_claim_naming_a_key_the_claimant_cannot_sign_with_is_refused(
    node_network: NodeNetwork, http: aiohttp.ClientSession, smtp_server: SmtpServer
) -> None:
    """The issuer's node signs the hand-over only for a claim the named key signed (over
    UID, issuer key, earner key, time and code); a refused proof spends neither the code
    nor an attempt, and the earner's own node then claims it through the CLI."""
    smtp_server.start()
    issuer, earner = await _issuer_and_earner(node_network, smtp_server)
    uid_text = await _issue_to_email(node_network, http, issuer, "dee@example.org")
    code, issuer_url = await _mail_for(smtp_server, uid_text)
    uid, url = parse_uid(uid_text), f"{issuer.gateway_url}/claims/{uid_text}"
    thief, elsewhere = KeyPair.generate(), KeyPair.generate()
    stale = sign_claim(earner.key, uid, issuer.key.public_key, code, _now(issuer) - 600)
    for_another_issuer = sign_claim(earner.key, uid, elsewhere.public_key, code, _now(issuer))
    mine = {"code": code, "earner": earner.did}
    for body, status, problem in (
        (
            _signed_ask(issuer, thief, uid, code) | {"earner": earner.did},
            422,
            "claim_proof_invalid",
        ),
        (mine | for_another_issuer.to_json(), 422, "claim_proof_invalid"),
        (mine | stale.to_json(), 422, "claim_proof_stale"),
        (mine | {"created": _now(issuer), "proof": "zzzz"}, 422, "claim_proof_invalid"),
        (mine, 400, "claim_proof_missing"),
    ):
        got, answer = await _post(http, url, body)
        assert (got, answer["code"]) == (status, problem), answer
    raw = issuer.store.get(Kind.JOURNAL, claims.CLAIM_PREFIX + uid)
    assert raw is not None and json.loads(raw)["earner"] is None
    assert json.loads(raw)["failures"] == []
    assert (await issuer.names.resolve(uid)).handover is None

    home = node_network.write_cli_home(earner)
    args = ["--home", str(home), "claim", uid_text, "--code", code, "--issuer", issuer_url]
    ran = await asyncio.to_thread(CliRunner().invoke, main, [*args, "--json"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output)["state"] == "accepted"
    handover = (await issuer.names.resolve(uid)).handover
    assert handover is not None and handover.earner_key == earner.key.public_key


@pytest.mark.slow
async def test_a_mail_waits_while_smtp_is_down_or_refuses_and_goes_once_it_takes_it(
    node_network: NodeNetwork, http: aiohttp.ClientSession, smtp_server: SmtpServer
) -> None:
    issuer, _ = await _issuer_and_earner(node_network, smtp_server)
    uid_text = await _issue_to_email(node_network, http, issuer, "cy@example.org")  # SMTP down
    uid = parse_uid(uid_text)

    async def failed_with(code: str) -> bool:
        items = [i for i in issuer.queue.items() if i.topic == mail.MAIL_TOPIC]
        return bool(items) and items[0].error.startswith(code)

    await eventually(lambda: failed_with("smtp_unreachable"))
    assert issuer.store.get(Kind.JOURNAL, mail.PENDING_PREFIX + uid) is not None
    # The mail is a journal mark: a start queues it again even if its queue item is gone.
    (item,) = [i for i in issuer.queue.items() if i.topic == mail.MAIL_TOPIC]
    issuer.queue.give_up(item, "dropped by the test")
    issuer.queue.done(item)
    assert work.migrate(issuer) >= 1
    assert [i.key for i in issuer.queue.items() if i.topic == mail.MAIL_TOPIC] == [uid]

    smtp_server.mailbox.refuse = True
    smtp_server.start()
    await eventually(lambda: failed_with("smtp_refused"))
    assert smtp_server.mailbox.messages == []

    smtp_server.mailbox.refuse = False
    code, _ = await _mail_for(smtp_server, uid_text)
    assert code

    await eventually(_mail_sent(issuer, uid))


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "wrong"),
    [
        ('host = "h"\nsmtp_port = 25', "unknown settings"),
        ('host = "h"\nport = 70000', "port"),
        ('host = "h"\nstarttls = "yes"', "starttls"),
        ("host = 25", "must be text"),
    ],
)
def test_bad_smtp_settings_are_config_errors(tmp_path: Path, table: str, wrong: str) -> None:
    (tmp_path / CONFIG_FILE).write_text(f"[node]\n[smtp]\n{table}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.code == "config_invalid" and wrong in caught.value.message


def test_smtp_settings_round_trip_and_the_password_stays_out_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp = SmtpConfig("smtp.example.org", 587, True, "u@example.org", "", "smtp.password")
    save_config(tmp_path, NodeConfig(smtp=smtp))
    assert load_config(tmp_path).smtp == smtp
    monkeypatch.delenv(mail.PASSWORD_ENV, raising=False)
    secret = tmp_path / "smtp.password"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    with pytest.raises(mail.MailError) as caught:
        mail.smtp_password(tmp_path, smtp)
    assert caught.value.code == "smtp_password_file_open"
    secret.chmod(0o600)
    assert mail.smtp_password(tmp_path, smtp) == "s3cret"
    monkeypatch.setenv(mail.PASSWORD_ENV, "from-env")
    assert mail.smtp_password(tmp_path, smtp) == "from-env"
    assert "s3cret" not in (tmp_path / CONFIG_FILE).read_text()


@pytest.mark.slow
async def test_a_batch_of_email_badges_sends_a_claim_mail_for_each(
    node_network: NodeNetwork, http: aiohttp.ClientSession, smtp_server: SmtpServer
) -> None:
    smtp_server.start()
    issuer, _ = await _issuer_and_earner(node_network, smtp_server)
    made = classes.create_class(issuer, **CLASS, image=None).to_json()
    rows = [{"email": f"row{n}@example.org"} for n in range(3)]
    body = {"class_id": made["id"], "rows": rows}
    status, started = await _post(
        http, issuer.gateway_url + "/admin/batches", body, node_network.admin
    )
    assert status == 202, started

    async def three_mails() -> bool:
        return len(smtp_server.mailbox.codes()) == 3

    await eventually(three_mails, timeout=30)
    with smtp_server.mailbox.lock:
        to = sorted(str(message["To"]) for message in smtp_server.mailbox.messages)
    assert to == [row["email"] for row in rows]
