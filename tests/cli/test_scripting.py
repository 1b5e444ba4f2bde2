"""What a script or a newcomer meets (issue 16 items 7, 10 and 12): `--json` on the commands
a script calls, `issue` saying what became of the delivery, `show` undoing `hide`, `move`
checking its URLs, `--out` that never overwrites by surprise, and errors that point the
right way."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from badgechain.chain.keys import KeyPair
from badgechain.chain.uid import parse_uid
from badgechain.cli.main import main
from badgechain.node.relocation import follow_gateway_url
from tests.node.conftest import NodeNetwork, eventually

OFFLINE = ["--name", "N", "--description", "D", "--criteria", "C"]
# A well-formed UID (a 64-byte signature) no node has a record of.
UNKNOWN_UID = (
    "z5m6eHJnojS4WYDxSqKwXy51uXnJfAeqj7hQ1iVJbdFHBoZNaNd52UGvQEiuvqWb1ocWDUGGepUNZCfhsGDutTgnP"
)


def _cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), *args])


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    assert _cli(home, "keys", "new", "--no-passphrase").exit_code == 0
    return home


def _did(home: Path) -> str:
    return str(_cli(home, "keys", "show").output.strip())


def test_offline_issue_prints_json_and_never_overwrites_without_force(
    home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "badge.json"
    issued = _json(
        _cli(home, "issue", "--offline", "--to", _did(home), *OFFLINE, "--out", str(out), "--json")
    )
    assert issued["uid"].startswith("z") and issued["out"] == str(out)
    before = out.read_bytes()
    again = _cli(home, "issue", "--offline", "--to", _did(home), *OFFLINE, "--out", str(out))
    assert again.exit_code == 2 and "[out_exists]" in again.output and "--force" in again.output
    assert out.read_bytes() == before
    forced = _cli(
        home, "issue", "--offline", "--to", _did(home), *OFFLINE, "--out", str(out), "--force"
    )
    assert forced.exit_code == 0 and out.read_bytes() != before


def test_bake_refuses_a_jpeg_name_a_mismatched_image_and_an_existing_out(
    home: Path, tmp_path: Path
) -> None:
    badge, png = tmp_path / "badge.json", tmp_path / "card.png"
    _cli(home, "issue", "--offline", "--to", _did(home), *OFFLINE, "--out", str(badge))
    _cli(home, "issue", "--offline", "--to", _did(home), *OFFLINE, "--out", str(png))
    jpeg = _cli(home, "bake", str(badge), str(png), "--out", str(tmp_path / "x.jpg"))
    assert jpeg.exit_code == 2 and "PNG or SVG" in jpeg.output
    assert not (tmp_path / "x.jpg").exists()
    mismatch = _cli(home, "bake", str(badge), str(png), "--out", str(tmp_path / "x.svg"))
    assert mismatch.exit_code == 2 and "not a SVG image" in mismatch.output
    exists = _cli(home, "bake", str(badge), str(png), "--out", str(png))
    assert exists.exit_code == 2 and "[out_exists]" in exists.output


def test_wrong_way_errors_point_the_right_way(home: Path, tmp_path: Path) -> None:
    uid = "z" + "5m6eHJnojS4WYDxSqKwXy51uXnJfAeqj7hQ1iVJbdFHBoZNaNd52UGvQEiuvqWb1ocWDUGG"
    as_file = _cli(home, "verify", uid, "--offline")
    assert (
        as_file.exit_code == 2
        and f"did you mean `badgechain verify --online {uid}`" in as_file.output
    )
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a badge\n")
    plain = _cli(home, "verify", str(text), "--offline")
    assert plain.exit_code == 1 and "notes.txt is not a badge" in plain.stderr
    p256 = "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169"
    wrong = _cli(
        home, "issue", "--offline", "--to", p256, *OFFLINE, "--out", str(tmp_path / "b.json")
    )
    assert wrong.exit_code == 2 and "not an Ed25519 did:key" in wrong.output
    assert "Traceback" not in wrong.output and not (tmp_path / "b.json").exists()


async def test_issue_reports_delivery_and_the_earner_commands_speak_json(tmp_path: Path) -> None:
    network = NodeNetwork(tmp_path)
    try:
        issuer, earner = await network.start(2)
        issuer_home, earner_home = network.write_cli_home(issuer), network.write_cli_home(earner)

        def run(home: Path, *args: str) -> Result:
            return _cli(home, *args)

        created = _json(
            await asyncio.to_thread(run, issuer_home, "class", "create", *OFFLINE, "--json")
        )
        issued = _json(
            await asyncio.to_thread(
                run, issuer_home, "issue", "--class", created["id"], "--to", earner.did, "--json"
            )
        )
        uid = issued["uid"]
        assert issued["delivery"]["state"] in ("delivered", "queued")

        async def in_inbox() -> bool:
            listed = await asyncio.to_thread(run, earner_home, "inbox", "--json")
            return any(badge["uid"] == uid for badge in json.loads(listed.stdout))

        await eventually(in_inbox)
        by_email = await asyncio.to_thread(
            run, issuer_home, "issue", "--class", created["id"], "--email", "ada@example.org"
        )
        assert by_email.exit_code == 0 and "not delivered" in by_email.stderr

        accepted = _json(await asyncio.to_thread(run, earner_home, "accept", uid, "--json"))
        here = accepted["record"]["location"]["urls"]
        assert accepted["uid"] == uid and here
        hidden = await asyncio.to_thread(run, earner_home, "hide", uid)
        assert f"undo: badgechain show {uid}" in hidden.output
        shown = _json(await asyncio.to_thread(run, earner_home, "show", uid, "--json"))
        assert shown["record"]["location"]["urls"] == here
        elsewhere = f"{earner.gateway_url}/badges/{uid}.png"  # the badge, but not its JSON
        moved = await asyncio.to_thread(run, earner_home, "move", uid, elsewhere, here[0], "--json")
        assert moved.exit_code == 0, moved.output
        assert json.loads(moved.stdout)["record"]["location"]["urls"] == [elsewhere, here[0]]
        assert f"warning: {elsewhere} does not serve a JSON badge" in moved.stderr
        assert f"warning: {here[0]}" not in moved.stderr
        unknown = UNKNOWN_UID
        for args in (["lookup", unknown], ["verify", "--online", f"urn:bns:{unknown}"]):
            missing = await asyncio.to_thread(run, earner_home, *args)
            assert missing.exit_code == 1 and "[bns_not_found]" in missing.output
            assert unknown in missing.output  # the UID as typed, not its DHT key
    finally:
        await network.stop()


async def test_the_same_csv_twice_issues_once_unless_again(tmp_path: Path) -> None:
    network = NodeNetwork(tmp_path)
    try:
        issuer, _ = await network.start(2)  # a peer, so that the badges publish
        home = network.write_cli_home(issuer)

        def run(*args: str) -> Result:
            return _cli(home, *args)

        class_id = _json(await asyncio.to_thread(run, "class", "create", *OFFLINE, "--json"))["id"]
        earners = [KeyPair.generate().did for _ in range(2)]
        csv = tmp_path / "earners.csv"
        csv.write_text(
            "to,email\n" + "".join(f"{did},{i}@example.org\n" for i, did in enumerate(earners))
        )
        batch = ["issue", "--class", class_id, "--csv", str(csv), "--json"]

        started = await asyncio.to_thread(run, *batch)
        first = _json(started)
        assert len(first) == 2
        # No node serves these earners' inboxes: the deliveries wait in the queue.
        assert "2 deliveries wait in the node's queue" in started.stderr
        second = await asyncio.to_thread(run, *batch)
        assert json.loads(second.stdout) == first  # reported, not issued again
        assert "this CSV was started as batch" in second.stderr and "--again" in second.stderr
        anew = _json(await asyncio.to_thread(run, *batch, "--again"))
        assert len(anew) == 2 and not set(anew) & set(first)

        named = _json(await asyncio.to_thread(run, *batch, "--batch-id", "spring"))
        assert not set(named) & set(first + anew)
        csv.write_text("to\n" + earners[0] + "\n")  # other rows, the same name: that batch
        renamed = await asyncio.to_thread(run, *batch, "--batch-id", "spring")
        assert (
            json.loads(renamed.stdout) == named and "batch 'spring' was started" in renamed.stderr
        )
    finally:
        await network.stop()


def test_a_stopped_node_is_named_in_words_not_exception_text(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init = _cli(home, "init", "--no-passphrase", "--dht-port", "0", "--http-port", "1")
    assert init.exit_code == 0, init.output  # port 1: nothing listens there
    uid = "z" + "5m6eHJnojS4WYDxSqKwXy51uXnJfAeqj7hQ1iVJbdFHBoZNaNd52UGvQEiuvqWb1ocWDUGG"
    for args in (["inbox"], ["verify", "--online", uid], ["log", "verify", "http://127.0.0.1:1"]):
        result = _cli(home, *args)
        assert result.exit_code != 0
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "[node_unreachable]" in lines[0], result.output
        assert "the connection was refused" in lines[0]
        for internal in ("ssl:default", "Connect call failed", "ClientConnector", "Errno"):
            assert internal not in lines[0]


async def test_a_collection_refuses_a_revoked_badge(tmp_path: Path) -> None:
    network = NodeNetwork(tmp_path)
    try:
        issuer, earner = await network.start(2)
        issuer_home, earner_home = network.write_cli_home(issuer), network.write_cli_home(earner)

        def run(home: Path, *args: str) -> Result:
            return _cli(home, *args)

        created = _json(
            await asyncio.to_thread(run, issuer_home, "class", "create", *OFFLINE, "--json")
        )
        uids = []
        for _ in range(2):
            issue = ["issue", "--class", created["id"], "--to", earner.did, "--json"]
            uids.append(_json(await asyncio.to_thread(run, issuer_home, *issue))["uid"])

        async def all_in_inbox() -> bool:
            listed = await asyncio.to_thread(run, earner_home, "inbox", "--json")
            return {badge["uid"] for badge in json.loads(listed.stdout)} >= set(uids)

        await eventually(all_in_inbox)
        for uid in uids:
            assert (await asyncio.to_thread(run, earner_home, "accept", uid)).exit_code == 0
        revoked = await asyncio.to_thread(run, issuer_home, "revoke", uids[0], "--reason", "typo")
        assert revoked.exit_code == 0, revoked.output
        refused = await asyncio.to_thread(run, earner_home, "collection", "create", "Mine", *uids)
        assert refused.exit_code != 0 and "[badge_revoked]" in refused.output
        assert "'typo'" in refused.output
        kept = await asyncio.to_thread(run, earner_home, "collection", "create", "Mine", uids[1])
        assert kept.exit_code == 0, kept.output
    finally:
        await network.stop()


async def test_a_node_on_a_new_port_republishes_the_locations_of_its_badges(
    tmp_path: Path,
) -> None:
    network = NodeNetwork(tmp_path)
    try:
        issuer, earner, _ = await network.start(3)  # a third keeps the DHT answering
        issuer_home, earner_home = network.write_cli_home(issuer), network.write_cli_home(earner)

        def run(home: Path, *args: str) -> Result:
            return _cli(home, *args)

        created = _json(
            await asyncio.to_thread(run, issuer_home, "class", "create", *OFFLINE, "--json")
        )
        issue = ["issue", "--class", created["id"], "--to", earner.did, "--json"]
        uid = _json(await asyncio.to_thread(run, issuer_home, *issue))["uid"]

        async def in_inbox() -> bool:
            listed = await asyncio.to_thread(run, earner_home, "inbox", "--json")
            return any(badge["uid"] == uid for badge in json.loads(listed.stdout))

        await eventually(in_inbox)
        assert await follow_gateway_url(earner) == 0  # first start: notes its URL
        accepted = _json(await asyncio.to_thread(run, earner_home, "accept", uid, "--json"))
        old = earner.gateway_url
        assert accepted["record"]["location"]["urls"] == [f"{old}/badges/{uid}.json"]

        earner = await network.restart(earner)  # http_port 0: another port
        assert earner.gateway_url != old
        assert await follow_gateway_url(earner) == 1
        record = await issuer.names.resolve(parse_uid(uid))
        assert record.location is not None
        assert list(record.location.urls) == [f"{earner.gateway_url}/badges/{uid}.json"]
        assert await follow_gateway_url(earner) == 0  # once moved, nothing more to do
    finally:
        await network.stop()
