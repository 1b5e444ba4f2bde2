"""A location, feed, crawled page or mail server that does not answer is named whole and
said in words (issue 16 item 9): no library text (`ClientConnectorError`, `ssl:default`,
`[Errno 111]`) and no URL cut short (a badge's location is ~125 characters; cut at 120 it
read `…/badges/<uid>.j: …`)."""

from __future__ import annotations

import socket
import ssl
from email.message import EmailMessage

import aiohttp
import pytest

from badgechain.chain.resolve import Unreachable
from badgechain.node import crawler_fetch, mail
from badgechain.node.config import NodeConfig, SmtpConfig
from badgechain.node.fetchers import get_bounded, mapped_session
from badgechain.node.harvest_fetch import FeedError, fetch_feed
from badgechain.node.outbound import shown_url, why_unreachable

# A UID is 87-88 base58 characters: its location URL on a loopback gateway is ~125.
UID = "z2KFe5zKBe24KHSPWAPAiYBzLEQVEUA8wozwEuMGxiHf9g4ehVKx4Z13ni5PjXzK7BYJs1gpv3iaqffYU6Ti1h2uv"
INTERNALS = ("ssl:default", "Connect call failed", "ClientConnector", "Errno", "OSError")


def _closed_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then let go)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_refused_location_is_named_whole_and_in_words() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/badges/{UID}.json"
    async with mapped_session(NodeConfig(name="n"), 5.0) as session:
        with pytest.raises(Unreachable) as failed:
            await get_bounded(session, url, 1024)
    message = failed.value.message
    assert message == f"{url}: the connection was refused"
    assert not any(internal in message for internal in INTERNALS)


async def test_a_refused_feed_or_crawled_page_is_said_in_words() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/feed.xml"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(FeedError) as failed:
            await fetch_feed(session, url, None, None, timeout_s=5.0)
        crawled = await crawler_fetch.fetch(session, url, 1024, 5.0)
    assert failed.value.message == "the feed cannot be fetched: the connection was refused"
    assert crawled == crawler_fetch.Failure("fetch_unreachable", "the connection was refused")


def test_an_smtp_server_that_is_not_there_is_said_in_words() -> None:
    email = EmailMessage()
    email["To"], email["Subject"] = "a@example.org", "a badge"
    smtp = SmtpConfig(host="127.0.0.1", port=_closed_port(), starttls=False)
    with pytest.raises(mail.MailError) as failed:
        mail._deliver(smtp, None, email, None, 5.0)
    assert failed.value.code == "smtp_unreachable"
    assert failed.value.message == "the SMTP server is unreachable: the connection was refused"


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "the connection was refused"),
        (socket.gaierror(-2, "Name or service not known"), "its host name does not resolve"),
        (
            ssl.SSLCertVerificationError(1, "certificate verify failed"),
            "its TLS certificate was not accepted",
        ),
        (ssl.SSLError(1, "wrong version number"), "the TLS handshake failed"),
        (ConnectionResetError(104, "Connection reset by peer"), "it closed the connection"),
        (TimeoutError(), "it did not answer in time"),
        (OSError(113, "No route to host"), "the connection failed"),
    ],
)
def test_socket_errors_below_aiohttp_are_said_in_words(error: OSError, words: str) -> None:
    assert why_unreachable(error) == words


def test_only_a_very_long_url_is_cut_and_it_says_so() -> None:
    location = f"https://badges.example.org/people/ada/badges/{UID}.json"
    assert shown_url(location) == location
    long = "https://example.org/" + "a" * 400
    shown = shown_url(long)
    assert len(shown) == 300 and shown.endswith("…") and long.startswith(shown[:-1])
