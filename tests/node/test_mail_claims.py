"""What follows a claim mail (node/mail_claims.py, docs/claims.md): a batch's email badge
gets its issuer's location and is claimed without --issuer; an expired code is replaced on
the earner's or the issuer's request, a few times a day at most. A real SMTP server on
loopback (aiosmtpd) carries every mail."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner, Result

from badgechain.chain.keys import KeyPair
from badgechain.chain.uid import Uid, parse_uid
from badgechain.chain.uid import uid_text as text_of
from badgechain.cli.main import main
from badgechain.node import classes, mail, mail_claims
from badgechain.node.app import RunningNode
from badgechain.storage import Kind
from tests.node.conftest import NodeNetwork, eventually
from tests.node.test_claims import (
    CLASS,
    SmtpServer,
    _free_port,
    _issue_to_email,
    _issuer_and_earner,
    _post,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
    pytest.mark.slow,
]


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """A loopback SMTP server (test_claims'), started; the node logs in with "s3cret"."""
    monkeypatch.setenv(mail.PASSWORD_ENV, "s3cret")
    server = SmtpServer(_free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _codes(smtp: SmtpServer, uid: str, count: int) -> list[str]:
    """The codes of the first `count` mails for `uid`, once that many arrived."""

    async def arrived() -> bool:
        return sum(found[0] == uid for found in smtp.mailbox.codes()) >= count

    await eventually(arrived)
    return [code for found, code, _ in smtp.mailbox.codes() if found == uid]


async def _cli(home: Path, *args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, main, ["--home", str(home), *args])


async def _batch_email_badge(
    network: NodeNetwork, http: aiohttp.ClientSession, issuer: RunningNode, address: str
) -> str:
    made = classes.create_class(issuer, **CLASS, image=None).to_json()
    body = {"class_id": made["id"], "rows": [{"email": address}]}
    status, started = await _post(http, issuer.gateway_url + "/admin/batches", body, network.admin)
    assert status == 202, started
    url = f"{issuer.gateway_url}/admin/batches/{started['batch_id']}"

    async def done() -> bool:
        async with http.get(url, headers=network.admin) as response:
            progress = await response.json()
        return bool(progress["done"] == 1 and progress["unpublished"] == 0)

    await eventually(done, timeout=30)
    async with http.get(url, headers=network.admin) as response:
        (uid,) = (await response.json())["uids"]
    return str(uid)


async def test_a_batch_email_badge_gets_its_issuers_location_and_is_claimed_without_issuer(
    node_network: NodeNetwork, http: aiohttp.ClientSession, smtp_server: SmtpServer
) -> None:
    issuer, earner = await _issuer_and_earner(node_network, smtp_server)
    uid_text = await _batch_email_badge(node_network, http, issuer, "row@example.org")
    uid = parse_uid(uid_text)
    (code,) = await _codes(smtp_server, uid_text, 1)

    async def issuer_location() -> bool:
        record = await earner.names._lookup(uid)
        return record.location is not None and bool(record.location.urls)

    async def located() -> bool:
        return issuer.store.get(Kind.JOURNAL, mail_claims.LOCATED_PREFIX + uid) is not None

    await eventually(issuer_location)
    await eventually(located)
    assert mail_claims.queue_open_claims(issuer) == 0  # a start looks no more
    issuer.store.delete(Kind.JOURNAL, mail_claims.LOCATED_PREFIX + uid)  # an older home's
    assert mail_claims.queue_open_claims(issuer) == 1
    assert issuer.queue.get(mail_claims.LOCATION_TOPIC, uid) is not None
    await eventually(located)  # it looked, found the location, and wrote nothing new
    record = await earner.names._lookup(uid)
    assert record.location is not None
    assert record.location.urls[0].startswith(issuer.gateway_url)

    home = node_network.write_cli_home(earner)  # no --issuer: the location names it
    ran = await _cli(home, "claim", uid_text, "--code", code, "--json")
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output) == {"uid": uid_text, "state": "accepted"}
    fresh = await node_network.nodes[0].names._lookup(uid)
    assert fresh.handover is not None and fresh.handover.earner_key == earner.key.public_key
    assert fresh.location is not None and fresh.location.urls[0].startswith(earner.gateway_url)

    # Claimed: no new code, and the location item (queued again on a start) does nothing.
    status, answer = await _post(http, f"{issuer.gateway_url}/claims/{uid_text}/resend", {})
    assert (status, answer["code"]) == (409, "claim_already_claimed")
    assert await mail_claims.publish_location(issuer, uid)
    assert (await issuer.names._lookup(uid)).location == fresh.location


async def test_an_expired_code_is_replaced_on_request_a_few_times_a_day(
    node_network: NodeNetwork, http: aiohttp.ClientSession, smtp_server: SmtpServer
) -> None:
    issuer, earner = await _issuer_and_earner(node_network, smtp_server)
    uid_text = await _issue_to_email(node_network, http, issuer, "dee@example.org")
    (first,) = await _codes(smtp_server, uid_text, 1)
    _expire(issuer, uid_text)
    earner_home = node_network.write_cli_home(earner)
    ran = await _cli(earner_home, "claim", uid_text, "--code", first)
    assert ran.exit_code != 0 and "claim_code_expired" in ran.output, ran.output

    # The earner asks (its node asks the issuer's, found through the location).
    ran = await _cli(earner_home, "claim", uid_text, "--resend", "--json")
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output)["uid"] == uid_text
    first, second = await _codes(smtp_server, uid_text, 2)
    assert second != first
    ran = await _cli(earner_home, "claim", uid_text, "--code", first)
    assert ran.exit_code != 0 and "claim_code_wrong" in ran.output, ran.output

    # The issuer may send one too (it replaces the earner's), then the day's limit is hit.
    issuer_home = node_network.write_cli_home(issuer)
    ran = await _cli(issuer_home, "mail", "resend", uid_text)
    assert ran.exit_code == 0 and "expires" in ran.output, ran.output
    status, _ = await _post(http, f"{issuer.gateway_url}/claims/{uid_text}/resend", {})
    assert status == 200
    *_, latest = await _codes(smtp_server, uid_text, 1 + mail_claims.MAX_RESENDS)
    async with http.post(f"{issuer.gateway_url}/claims/{uid_text}/resend") as response:
        answer = await response.json(content_type=None)
        assert (response.status, answer["code"]) == (429, "claim_resend_rate_limited")
        assert 0 < int(response.headers["Retry-After"]) <= mail_claims.RESEND_WINDOW_S + 1
    ran = await _cli(earner_home, "claim", uid_text, "--resend")
    assert ran.exit_code != 0 and "claim_resend_rate_limited" in ran.output, ran.output

    ran = await _cli(earner_home, "claim", uid_text, "--code", latest, "--json")
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output)["state"] == "accepted"


async def test_a_resend_needs_an_open_claim_and_its_address_and_bad_codes_are_refused(
    node_network: NodeNetwork, http: aiohttp.ClientSession, smtp_server: SmtpServer
) -> None:
    issuer, _ = await _issuer_and_earner(node_network, smtp_server)
    base, admin = issuer.gateway_url, node_network.admin
    unknown = text_of(Uid(bytes(range(64))))
    status, answer = await _post(http, f"{base}/claims/{unknown}/resend", {})
    assert (status, answer["code"]) == (404, "claim_not_found")
    ask = {"code": "AAAA-AAAA-AAAA", "earner": KeyPair.generate().did}
    status, answer = await _post(http, f"{base}/claims/{unknown}", ask)
    assert (status, answer["code"]) == (404, "claim_not_found")
    for bad in ("", "A" * 33):
        status, answer = await _post(http, f"{base}/claims/{unknown}", ask | {"code": bad})
        assert (status, answer["code"]) == (400, "claim_code_invalid")
    uid_text = await _issue_to_email(node_network, http, issuer, "eve@example.org")
    status, answer = await _post(http, f"{base}/claims/{uid_text}/resend", {"to": "x@evil"})
    assert (status, answer["code"]) == (400, "field_unknown")  # the address is the badge's

    # A claim written before addresses were kept cannot be mailed again.
    issuer.store.delete(Kind.JOURNAL, mail_claims.ADDRESS_PREFIX + parse_uid(uid_text))
    status, answer = await _post(http, f"{base}/admin/mail/resend", {"uid": uid_text}, admin)
    assert (status, answer["code"]) == (409, "claim_address_unknown")
    ran = await _cli(node_network.write_cli_home(issuer), "claim", uid_text)
    assert ran.exit_code != 0 and "--resend" in ran.output


def _expire(node: RunningNode, uid_text: str) -> None:
    """Age the claim's code past its expiry, as a week going by would."""
    key = b"claim/" + parse_uid(uid_text)
    claim = json.loads(node.store.get(Kind.JOURNAL, key) or b"{}")
    claim["expires"] = 0.0
    node.store.put(Kind.JOURNAL, key, json.dumps(claim).encode())
