"""Issuer commands over the node's admin API: `class create|list`, `revoke`, and the online
`issue` (one badge, or a CSV batch with a progress bar) that cli/main.py's `issue` calls
through `issue_online` when `--class` is given.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import click

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.proof import format_created
from badgechain.chain.uid import parse_uid
from badgechain.node.batches import MAX_BATCH_ROWS
from badgechain.node.classes import MAX_IMAGE_BYTES
from badgechain.node.issuer import parse_recipient

from . import batch_ids
from .batch_ids import check_name, content_name
from .client import AdminClient, NodeError
from .common import reports_errors
from .home import HomeError, read_bounded
from .replication import WAIT_HELP, Push, push_again, report, settle, wait_option

__all__ = ["CsvError", "issue_online", "read_csv_rows", "register"]

MAX_CSV_BYTES = 4 * 1024 * 1024  # the node takes a batch body of up to 4 MiB
CSV_COLUMNS = ("to", "email", "valid_until", "evidence")
POLL_INTERVAL_S = 0.5
STALL_TIMEOUT_S = 300.0


class CsvError(HomeError):
    """The CSV file named on the command line cannot be issued from."""

    code = "csv_invalid"


# --- class ---------------------------------------------------------------------------------


@click.group("class")
def class_group() -> None:
    """Define badge classes (Achievements) on this home's node."""


@class_group.command("create")
@click.option("--name", required=True, help="Badge name.")
@click.option("--description", required=True, help="What the badge means.")
@click.option("--criteria", required=True, help="What an earner does to earn it.")
@click.option(
    "--image", type=click.Path(dir_okay=False, path_type=Path), help="PNG or SVG, at most 256 KiB."
)
@click.option("--json", "as_json", is_flag=True, help="Print the class as JSON.")
@click.pass_obj
@reports_errors
def class_create(
    home: Path, name: str, description: str, criteria: str, image: Path | None, as_json: bool
) -> None:
    """Create a badge class; prints its id."""
    body: dict[str, Any] = {"name": name, "description": description, "criteria": criteria}
    if image is not None:
        body["image"] = base64.b64encode(read_bounded(image, MAX_IMAGE_BYTES)).decode()
    record = AdminClient(home).call("POST", "/admin/classes", body)
    click.echo(json.dumps(record, indent=2, ensure_ascii=False) if as_json else record["id"])


@class_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the classes as JSON.")
@click.pass_obj
@reports_errors
def class_list(home: Path, as_json: bool) -> None:
    """List this node's badge classes."""
    classes = AdminClient(home).call("GET", "/admin/classes")["classes"]
    if as_json:
        click.echo(json.dumps(classes, indent=2, ensure_ascii=False))
        return
    click.echo(f"{'ID':<12} {'CREATED':<20} NAME")
    for record in classes:
        click.echo(f"{record['id']:<12} {record['created']:<20} {record['achievement']['name']}")


# --- revoke --------------------------------------------------------------------------------


# A revocation recorded while the DHT did not answer: no replica holds it yet.
_PENDING: Final = {"accepted": 0, "asked": 0, "quorum": None, "done": False}


def _revoke_again(client: AdminClient, body: dict[str, str]) -> Push:
    """--wait on a pending revocation: ask again (it is recorded once, however often)."""

    def push() -> dict[str, Any] | None:
        record = client.call("POST", "/admin/revoke", body)
        if record.get("bns") == "pending":
            return None
        return record.get("replication") or {**_PENDING, "done": True}  # the BNS has it

    return push


@click.command("revoke", epilog=WAIT_HELP)
@click.argument("uid")
@click.option("--reason", required=True, help="Why, as the BNS revocation will say.")
@click.option("--json", "as_json", is_flag=True, help="Print the revoked BNS record as JSON.")
@wait_option
@click.pass_obj
@reports_errors
def revoke(home: Path, uid: str, reason: str, as_json: bool, wait_s: float | None) -> None:
    """Revoke a badge this node issued: publishes the BNS revocation."""
    client, body = AdminClient(home), {"uid": uid, "reason": reason}
    record = client.call("POST", "/admin/revoke", body)
    if record.get("bns") == "pending":
        record = settle(record | {"replication": _PENDING}, wait_s, _revoke_again(client, body))
    else:
        record = settle(record, wait_s, push_again(client, record["uid"]))
    if as_json:
        click.echo(json.dumps(record, indent=2))
    elif record.get("bns") == "pending" and not record["replication"]["done"]:
        click.echo(f"revoked {record['uid']} (the BNS did not answer; the node will publish it)")
    else:
        click.echo(f"revoked {record['uid']}")
    report(record, wait_s)


# --- issue ---------------------------------------------------------------------------------


def issue_online(
    home: Path,
    class_id: str,
    to: str | None,
    email: str | None,
    valid_until: datetime | None,
    evidence: tuple[str, ...],
    csv_file: Path | None,
    as_json: bool,
    *,
    batch_name: str | None = None,
    again: bool = False,
) -> None:
    """Issue through the node: one badge (prints its UID) or every row of `csv_file`
    (a progress bar on stderr, then the UIDs, one per line or a JSON array).

    A batch is named by its content, or `batch_name`: a name this home already started a
    batch under is resumed or reported, not issued again, unless `again`.
    """
    if csv_file is not None:
        if to or email or valid_until or evidence:
            raise click.UsageError("--csv takes the earners from the file; drop --to/--email/…")
        rows = read_csv_rows(csv_file)
        name = check_name(batch_name) if batch_name else content_name(class_id, rows)
        client = AdminClient(home)
        batch_id = None if again else _earlier_batch(home, client, name, batch_name is None)
        if batch_id is None:
            started = client.call("POST", "/admin/batches", {"class_id": class_id, "rows": rows})
            batch_id = started["batch_id"]
            batch_ids.remember(home, name, batch_id, str(csv_file))
        _issue_batch(client, batch_id, as_json)
        return
    if batch_name or again:
        raise click.UsageError("--batch-id and --again go with --csv")
    if not to and not email:
        raise click.UsageError("name the earner with --to (a did:key or urn:bns:UID) or --email")
    body: dict[str, Any] = {"class_id": class_id, "to": to, "email": email}
    body["evidence"] = list(evidence)
    if valid_until is not None:
        body["valid_until"] = format_created(valid_until)
    client = AdminClient(home)
    answer = client.call("POST", "/admin/issue", body)
    if not answer["published"]:
        click.echo("warning: stored, but not yet in the BNS; the node will retry", err=True)
    delivery = delivery_of(client, answer["uid"], to)
    answer["delivery"] = delivery
    click.echo(json.dumps(answer, indent=2, ensure_ascii=False) if as_json else answer["uid"])
    if not as_json:
        click.echo(_DELIVERY_LINES[delivery["state"]].format(**delivery), err=True)


_DELIVERY_LINES = {
    "delivered": "delivered to the earner's inbox",
    "queued": "delivery queued, the node keeps trying: {reason}",
    "refused": "delivery refused by the earner's inbox: {reason} (badgechain queue list)",
    "no_inbox": "not delivered: {reason}",
}


def delivery_of(client: AdminClient, uid: str, to: str | None) -> dict[str, str]:
    """What became of the badge's delivery, which the node tried while it issued: the
    node's outbox item for it (queued or refused), none left (delivered), or none made
    (no key names an inbox)."""
    if not to or not to.startswith(("did:key:", "urn:bns:")):
        return {
            "state": "no_inbox",
            "reason": "the earner is named by email only; send them the badge file",
        }
    item_id = f"deliver:{bytes(parse_uid(uid)).hex()}"
    items = client.call("GET", "/admin/queue")["items"]
    item = next((item for item in items if item.get("id") == item_id), None)
    if item is None:
        return {"state": "delivered", "reason": ""}
    return {"state": "refused" if item.get("dead") else "queued", "reason": str(item["error"])}


def read_csv_rows(path: Path) -> list[dict[str, Any]]:
    """The recipients of a CSV file with a header row (to,email,valid_until,evidence;
    evidence holds URLs separated by spaces), each checked; errors name the line."""
    try:
        text = read_bounded(path, MAX_CSV_BYTES).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvError(f"{path}: not UTF-8 text") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown or not {"to", "email"} & set(header):
        raise CsvError(
            f"{path}: line 1 must be a header of the columns {','.join(CSV_COLUMNS)} "
            f"(at least to or email); found {','.join(header) or 'nothing'}"
        )
    reader.fieldnames = header
    rows: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    for cells in reader:
        if len(rows) == MAX_BATCH_ROWS:
            raise CsvError(f"{path}: more than {MAX_BATCH_ROWS} rows", code="batch_too_large")
        rows.append(_csv_row(path, reader.line_num, cells, now))
    if not rows:
        raise CsvError(f"{path}: no rows under the header")
    return rows


def _csv_row(path: Path, line: int, cells: dict[str | None, Any], now: datetime) -> dict[str, Any]:
    if None in cells:
        raise CsvError(f"{path}: line {line}: more cells than header columns")
    row = {name: (value or "").strip() for name, value in cells.items() if name is not None}
    row["evidence"] = row.get("evidence", "").split()
    try:
        parse_recipient(row, now=now)
    except BadgeChainError as exc:
        raise CsvError(f"{path}: line {line}: {exc.message}") from exc
    return {name: value for name, value in row.items() if value}


def _earlier_batch(home: Path, client: AdminClient, name: str, by_content: bool) -> str | None:
    """The node batch this home started under `name`, if the node still has it; says so."""
    known = batch_ids.recall(home, name)
    if known is None:
        return None
    try:
        progress = client.call("GET", f"/admin/batches/{known['batch_id']}?uids=false")
    except NodeError as exc:
        if exc.code != "batch_not_found":
            raise
        batch_ids.forget(home, name)
        return None
    what = "this CSV" if by_content else f"batch {name!r}"
    state = "resuming it" if progress["state"] != "done" else "not issuing it again"
    click.echo(
        f"note: {what} was started as batch {known['batch_id']} on {known['created']} "
        f"({progress['done']} of {progress['total']} issued); {state}. "
        "--again issues every row anew",
        err=True,
    )
    return str(known["batch_id"])


def _issue_batch(client: AdminClient, batch_id: str, as_json: bool) -> None:
    total = client.call("GET", f"/admin/batches/{batch_id}?uids=false")["total"]
    _wait_for_batch(client, batch_id, total)
    progress = client.call("GET", f"/admin/batches/{batch_id}")
    uids = progress["uids"]
    click.echo(json.dumps(uids) if as_json else "\n".join(uids))
    if progress["unpublished"]:
        click.echo(
            f"warning: {progress['unpublished']} badges are not yet in the BNS; "
            "the node keeps retrying, and delivers each once it is published",
            err=True,
        )
    for failure in progress["errors"]:
        click.echo(f"row {failure['row']}: {failure['error']}", err=True)
    if not progress["unpublished"]:  # a badge is delivered once published
        _say_deliveries(client, uids)
    if progress["failed"]:
        raise NodeError(
            f"{progress['failed']} of {progress['total']} rows were not issued (batch {batch_id})",
            code="batch_rows_failed",
        )


def _say_deliveries(client: AdminClient, uids: list[str]) -> None:
    """How many of the batch's deliveries still wait in the node's queue, or were refused
    (the node delivers a batch's badges in the background)."""
    wanted = {f"deliver:{bytes(parse_uid(uid)).hex()}" for uid in uids}
    items = [i for i in client.call("GET", "/admin/queue")["items"] if i.get("id") in wanted]
    refused = sum(1 for item in items if item.get("dead"))
    waiting = len(items) - refused
    if waiting:
        click.echo(f"{waiting} deliveries wait in the node's queue; it keeps trying", err=True)
    if refused:
        click.echo(
            f"{refused} deliveries were refused by the earners' inboxes (badgechain queue list)",
            err=True,
        )
    if not items:
        click.echo("every badge with an earner key was delivered", err=True)


def _wait_for_batch(client: AdminClient, batch_id: str, total: int) -> None:
    """Poll the batch until the node has gone through every row, with a progress bar."""
    seen, last_change = 0, time.monotonic()
    with click.progressbar(length=total, label="issuing", file=sys.stderr) as bar:
        while True:
            progress = client.call("GET", f"/admin/batches/{batch_id}?uids=false")
            finished = progress["done"] + progress["failed"]
            if finished > seen:
                bar.update(finished - seen)
                seen, last_change = finished, time.monotonic()
            if progress["state"] == "done":
                return
            if time.monotonic() - last_change > STALL_TIMEOUT_S:
                raise NodeError(
                    f"batch {batch_id} made no progress for {STALL_TIMEOUT_S:.0f} s; the node "
                    "goes on with it when it can (and after a restart)",
                    code="batch_stalled",
                )
            time.sleep(POLL_INTERVAL_S)


def register(main: click.Group) -> None:
    """Add `class` and `revoke`; cli/main.py's `issue` calls `issue_online` for --class."""
    main.add_command(class_group)
    main.add_command(revoke)
