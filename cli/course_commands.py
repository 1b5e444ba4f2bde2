"""Course commands over the node's admin API (issue 15): courses and their tasks,
participants' feeds, harvests, and the review of what the harvests found.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from .client import AdminClient
from .common import reports_errors
from .home import read_bounded

__all__ = ["register"]

MAX_IMAGE_BYTES = 256 * 1024  # node/classes.py's limit, not imported: --help loads no node code


def _path(course: str) -> str:
    return f"/admin/courses/{quote(course, safe='')}"


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


@click.group("course")
def course_group() -> None:
    """Courses: tasks awarded for blog posts with a hashtag, harvested from feeds."""


@course_group.command("create")
@click.option("--name", required=True, help="The course's name.")
@click.option("--description", default="", help="What the course is.")
@click.option("--json", "as_json", is_flag=True, help="Print the course as JSON.")
@click.pass_obj
@reports_errors
def course_create(home: Path, name: str, description: str, as_json: bool) -> None:
    """Create a course; prints its id."""
    body = {"name": name, "description": description}
    record = AdminClient(home).call("POST", "/admin/courses", body)
    _echo_json(record) if as_json else click.echo(record["id"])


@course_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the courses as JSON.")
@click.pass_obj
@reports_errors
def course_list(home: Path, as_json: bool) -> None:
    """List this node's courses."""
    found = AdminClient(home).call("GET", "/admin/courses")["courses"]
    if as_json:
        _echo_json(found)
        return
    click.echo(f"{'ID':<12} {'TASKS':>5}  NAME")
    for course in found:
        click.echo(f"{course['id']:<12} {len(course['tasks']):>5}  {course['name']}")


@course_group.command("show")
@click.argument("course")
@click.option("--json", "as_json", is_flag=True, help="Print the course as JSON.")
@click.pass_obj
@reports_errors
def course_show(home: Path, course: str, as_json: bool) -> None:
    """Show a course: its tasks, its participants with their feed's state, its submissions."""
    record = AdminClient(home).call("GET", _path(course))
    if as_json:
        _echo_json(record)
        return
    click.echo(f"{record['name']} ({record['id']})")
    click.echo("tasks:")
    for task in record["tasks"]:
        auto = " (auto-award)" if task["auto_award"] else ""
        click.echo(
            f"  {task['id']}  #{task['hashtag']}  {task['name']}  class {task['class_id']}{auto}"
        )
    click.echo("participants:")
    for person in record["participants"]:
        error = person["feed_state"]["error"]
        state = f"error {error['code']}: {error['message']}" if error else "ok"
        checked = person["feed_state"]["checked"] or "never"
        who = person["did"] or person["email"]
        click.echo(f"  {person['id']}  {who}  {person['feed']}  [{state}; read {checked}]")
    counts = ", ".join(f"{n} {state}" for state, n in sorted(record["submissions"].items()))
    click.echo(f"submissions: {counts or 'none'}")
    run = record.get("harvest")
    if run:
        when = run.get("finished") or run["requested"]
        click.echo(f"last harvest asked for: {run['state']} ({when})")


@course_group.group("task")
def task_group() -> None:
    """A course's tasks (each one a badge class)."""


@task_group.command("add")
@click.argument("course")
@click.option("--name", required=True, help="The task's (and its badge's) name.")
@click.option("--description", required=True, help="What the badge means.")
@click.option("--criteria", required=True, help="What an earner does to earn it.")
@click.option("--hashtag", required=True, help="The tag a post carries to submit it.")
@click.option(
    "--image", type=click.Path(dir_okay=False, path_type=Path), help="PNG or SVG, at most 256 KiB."
)
@click.option("--auto-award", is_flag=True, help="Award on harvest, without review.")
@click.pass_obj
@reports_errors
def task_add(
    home: Path,
    course: str,
    name: str,
    description: str,
    criteria: str,
    hashtag: str,
    image: Path | None,
    auto_award: bool,
) -> None:
    """Add a task to a course; prints the task's id and its badge class."""
    body: dict[str, Any] = {
        "name": name,
        "description": description,
        "criteria": criteria,
        "hashtag": hashtag,
        "auto_award": auto_award,
    }
    if image is not None:
        body["image"] = base64.b64encode(read_bounded(image, MAX_IMAGE_BYTES)).decode()
    task = AdminClient(home).call("POST", _path(course) + "/tasks", body)
    click.echo(f"{task['id']} #{task['hashtag']} class {task['class_id']}")


@course_group.command("completion")
@click.argument("course")
@click.option("--name", required=True, help="The completion badge's name.")
@click.option("--description", required=True, help="What the badge means.")
@click.option("--criteria", required=True, help="What an earner does: every task.")
@click.option(
    "--image", type=click.Path(dir_okay=False, path_type=Path), help="PNG or SVG, at most 256 KiB."
)
@click.pass_obj
@reports_errors
def course_completion(
    home: Path, course: str, name: str, description: str, criteria: str, image: Path | None
) -> None:
    """Give a course its completion badge, awarded once a participant has every task's."""
    body: dict[str, Any] = {"name": name, "description": description, "criteria": criteria}
    if image is not None:
        body["image"] = base64.b64encode(read_bounded(image, MAX_IMAGE_BYTES)).decode()
    made = AdminClient(home).call("POST", _path(course) + "/completion", body)
    click.echo(f"completion badge: class {made['class_id']}")


@course_group.command("join")
@click.argument("course")
@click.option("--feed", required=True, help="The participant's RSS, Atom or JSON Feed URL.")
@click.option("--did", help="The participant's did:key (their badges' subject).")
@click.option("--email", help="The participant's email address (instead of a did:key).")
@click.pass_obj
@reports_errors
def course_join(home: Path, course: str, feed: str, did: str | None, email: str | None) -> None:
    """Register a participant's feed; prints the participant's id."""
    if (did is None) == (email is None):
        raise click.UsageError("give --did or --email, one of them")
    body = {"feed": feed, "did": did, "email": email}
    click.echo(AdminClient(home).call("POST", _path(course) + "/participants", body)["id"])


@course_group.command("harvest")
@click.argument("course")
@click.option("--json", "as_json", is_flag=True, help="Print the harvest's summary as JSON.")
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(0, 3600),
    default=600.0,
    show_default=True,
    help="Seconds to wait for the queued harvest (0: queue it and return).",
)
@click.pass_obj
@reports_errors
def course_harvest(home: Path, course: str, as_json: bool, wait_s: float) -> None:
    """Read every participant's feed now (queued on the node; waits for the summary)."""
    client = AdminClient(home)
    run = client.call("POST", _path(course) + "/harvest")
    if wait_s == 0:
        click.echo(f"harvest {run['id']} queued")
        return
    run = _wait_for_harvest(client, course, run["id"], wait_s)
    if run.get("error"):
        raise click.ClickException(f"{run['error']['code']}: {run['error']['message']}")
    summary = run["summary"]
    if as_json:
        _echo_json(summary)
        return
    click.echo(
        f"{summary['feeds']} feeds read: {len(summary['new'])} new submissions, "
        f"{len(summary['edited'])} edited, {len(summary['errors'])} feeds failing"
    )
    for participant, error in summary["errors"].items():
        click.echo(f"  {participant}: {error['code']}: {error['message']}")


def _wait_for_harvest(client: AdminClient, course: str, run_id: str, wait_s: float) -> Any:
    """Poll the course's harvest until it is done. (A newer one than `run_id` is asked
    for only once ours has started, so its summary covers ours.)"""
    deadline = time.monotonic() + wait_s
    pause = 0.2
    while True:
        run = client.call("GET", _path(course) + "/harvest")
        if run["state"] == "done":
            return run
        if time.monotonic() + pause > deadline:
            raise click.ClickException(
                f"harvest {run_id} is still {run['state']} after {wait_s:.0f} s; it goes on "
                "on the node (`course show` gives each feed's state)"
            )
        time.sleep(pause)
        pause = min(pause * 1.5, 2.0)


@course_group.command("review")
@click.argument("course")
@click.option("--json", "as_json", is_flag=True, help="Print the pending submissions as JSON.")
@click.pass_obj
@reports_errors
def course_review(home: Path, course: str, as_json: bool) -> None:
    """List the submissions waiting for review."""
    pending = AdminClient(home).call("GET", _path(course) + "/submissions")["pending"]
    if as_json:
        _echo_json(pending)
        return
    for item in pending:
        click.echo(
            f"{item['id']}  #{item['hashtag']} {item['task_name']}  by {item['participant_name']}"
        )
        click.echo(f"    {item['title']}  <{item['link']}>")
        if item["excerpt"]:
            click.echo(f"    {item['excerpt'][:160]}")
    if not pending:
        click.echo("nothing to review")


@course_group.command("award")
@click.argument("submission")
@click.option("--json", "as_json", is_flag=True, help="Print the awarded submission as JSON.")
@click.pass_obj
@reports_errors
def course_award(home: Path, submission: str, as_json: bool) -> None:
    """Award a submission: issue its task's badge with the post as evidence; prints the UID."""
    path = f"/admin/submissions/{quote(submission, safe='')}/award"
    awarded = AdminClient(home).call("POST", path)
    if as_json:
        _echo_json(awarded)
        return
    click.echo(awarded["uid"])
    if awarded.get("completion_uid"):
        click.echo(f"course completed: completion badge {awarded['completion_uid']}")
    if awarded.get("completion_error"):
        error = awarded["completion_error"]
        click.echo(f"completion badge not issued yet: {error['code']}: {error['message']}")


@course_group.command("decline")
@click.argument("submission")
@click.option("--reason", required=True, help="Why, for the record.")
@click.pass_obj
@reports_errors
def course_decline(home: Path, submission: str, reason: str) -> None:
    """Decline a submission with a reason."""
    path = f"/admin/submissions/{quote(submission, safe='')}/decline"
    AdminClient(home).call("POST", path, {"reason": reason})
    click.echo(f"declined {submission}")


def register(main: click.Group) -> None:
    main.add_command(course_group)
