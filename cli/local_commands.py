"""Commands that work without a node: keys, offline issue, verify, bake and unbake (and the
online `issue --class`, which cli/issuer_commands.py runs)."""

from __future__ import annotations

import base64
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import click

from badgechain.chain import bake as baking
from badgechain.chain.keys import KeyPair
from badgechain.chain.keystore import lock_key

from .common import check_earner, load_key, new_passphrase, reports_errors
from .home import KEY_FILE, HomeError, read_bounded, write_atomic

__all__ = ["register"]

# chain.verify's input limit (tests/cli/test_startup.py holds them equal): importing it here
# would load the JSON-LD stack for commands that never touch JSON-LD.
MAX_INPUT_BYTES = 10 * 1024 * 1024
MAX_IMAGE_BYTES = 2 * 1024 * 1024
# An image embedded in the achievement as a data: URI must stay small: it is signed and shipped.
MAX_EMBEDDED_IMAGE_BYTES = 64 * 1024


# -- keys -------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """Create and show this home's issuer key."""


@keys.command("new")
@click.option("--no-passphrase", is_flag=True, help="Store the key unencrypted (not recommended).")
@click.option("--force", is_flag=True, help="Replace an existing key.")
@click.option("--json", "as_json", is_flag=True, help='Print {"did": …} as JSON.')
@click.pass_obj
@reports_errors
def keys_new(home: Path, no_passphrase: bool, force: bool, as_json: bool) -> None:
    """Create a new Ed25519 key; prints its did:key."""
    path = home / KEY_FILE
    if path.exists() and not force:
        raise HomeError(f"{path} exists; use --force to replace it", code="key_exists")
    passphrase = None if no_passphrase else new_passphrase()
    key = KeyPair.generate()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, lock_key(key, passphrase), mode=0o600)
    click.echo(json.dumps({"did": key.did}) if as_json else key.did)


@keys.command("show")
@click.option("--json", "as_json", is_flag=True, help='Print {"did": …} as JSON.')
@click.pass_obj
@reports_errors
def keys_show(home: Path, as_json: bool) -> None:
    """Print this home's did:key."""
    data = read_bounded(home / KEY_FILE, 4096)
    try:
        record = json.loads(data)
    except ValueError:
        record = None
    did = record.get("did") if isinstance(record, dict) else None
    if not isinstance(did, str):  # a key file that does not name its DID: open it
        did = load_key(home).did
    click.echo(json.dumps({"did": did}) if as_json else did)


# -- issue -------------------------------------------------------------------------------


def _parse_when(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            "use an ISO 8601 date or date-time, e.g. 2027-06-30T00:00:00Z"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@click.command()
@click.option("--class", "class_id", default=None, help="Issue online, from this badge class.")
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --class: one badge per row (to,email,valid_until,evidence).",
)
@click.option(
    "--batch-id",
    "batch_name",
    metavar="NAME",
    help="With --csv: name the batch (default: named by its content); a name used before "
    "resumes or reports that batch.",
)
@click.option("--again", is_flag=True, help="With --csv: issue every row anew, even if issued.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--offline", is_flag=True, help="Sign locally, without a node.")
@click.option("--to", "subject", help="Earner: a did:key, or urn:bns:<UID> of a persona.")
@click.option("--email", default=None, help="Earner's email, stored as a salted hash.")
@click.option("--plain-email", is_flag=True, help="Offline: store the email in clear.")
@click.option("--name", help="Offline: badge name.")
@click.option("--description", help="Offline: what the badge means.")
@click.option("--criteria", help="Offline: what the earner did to earn it.")
@click.option(
    "--image",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Offline: badge image (PNG or SVG).",
)
@click.option("--valid-until", callback=_parse_when, help="Expiry, ISO 8601.")
@click.option("--evidence", multiple=True, help="Evidence URL (repeatable).")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Offline: .json, .png or .svg"
)
@click.option("--force", is_flag=True, help="Offline: overwrite an existing --out file.")
@click.pass_obj
@reports_errors
def issue(
    home: Path,
    class_id: str | None,
    csv_file: Path | None,
    batch_name: str | None,
    again: bool,
    as_json: bool,
    offline: bool,
    subject: str | None,
    email: str | None,
    plain_email: bool,
    name: str | None,
    description: str | None,
    criteria: str | None,
    image: Path | None,
    valid_until: datetime | None,
    evidence: tuple[str, ...],
    out: Path | None,
    force: bool,
) -> None:
    """Issue a badge; prints its UID.

    Online (the home's node must run): --class ID with --to, or with --csv for many.
    Offline: --offline --to --name --description --criteria --out, signed here.
    """
    if class_id is not None:
        if offline or plain_email or out or image or name or description or criteria or force:
            raise click.UsageError("--class takes --to/--csv, --email, --valid-until, --evidence")
        if (subject is None and email is None) == (csv_file is None):
            raise click.UsageError("--class needs the earner (--to and/or --email) or --csv")
        check_earner(subject)
        from .issuer_commands import issue_online  # the node client: only when it is used

        issue_online(
            home,
            class_id,
            subject,
            email,
            valid_until,
            evidence,
            csv_file,
            as_json,
            batch_name=batch_name,
            again=again,
        )
        return
    if csv_file is not None or batch_name or again:
        raise click.UsageError("--csv, --batch-id and --again go with --class")
    if not offline:
        raise click.UsageError("use --class ID to issue through the node, or --offline")
    if not (subject and name and description and criteria and out):
        missing = [
            flag
            for flag, value in (
                ("--to", subject),
                ("--name", name),
                ("--description", description),
                ("--criteria", criteria),
                ("--out", out),
            )
            if not value
        ]
        raise click.UsageError(f"--offline needs {', '.join(missing)}")
    check_earner(subject)
    suffix = out.suffix.lower()
    if suffix not in (".json", ".png", ".svg"):
        raise click.UsageError("--out must end in .json, .png or .svg")
    _refuse_overwrite(out, force)
    image_bytes = read_bounded(image, MAX_IMAGE_BYTES) if image else None
    if image_bytes is not None and suffix != ".json" and _image_kind(image_bytes) != suffix:
        raise click.UsageError(
            f"--image must be a {suffix[1:].upper()} image to bake into {out.name}"
        )
    from badgechain.chain.badge import build_achievement, build_credential, email_identity
    from badgechain.chain.signing import sign

    key = load_key(home)
    now = datetime.now(UTC)
    achievement = build_achievement(
        key.did,
        achievement_id=f"urn:uuid:{uuid.uuid4()}",
        name=name,
        description=description,
        criteria=criteria,
        image=_data_uri(image_bytes) if image_bytes else None,
    )
    identifiers = []
    if email:
        salt = None if plain_email else base64.b32encode(os.urandom(10)).decode().lower()
        identifiers.append(email_identity(email, salt=salt, hashed=not plain_email))
    credential = build_credential(
        issuer_did=key.did,
        subject_id=subject,
        achievement=achievement,
        valid_from=now,
        credential_id=f"urn:uuid:{uuid.uuid4()}",
        issuer_name=_home_issuer_name(home) or None,
        identifiers=identifiers,
        valid_until=valid_until,
        evidence=evidence,
    )
    # The node pipeline's own signing step (eddsa-rdfc-2022), without the node.
    signed = sign(credential, key, now).credential
    payload = json.dumps(signed, indent=2, ensure_ascii=False)
    write_atomic(out, _render(suffix, payload, image_bytes, name))
    uid = signed["proof"]["proofValue"]
    if as_json:
        click.echo(json.dumps({"uid": uid, "out": str(out), "issuer": key.did, "to": subject}))
    else:
        click.echo(uid)


def _home_issuer_name(home: Path) -> str:
    """The home's [issuer] name, as the node puts it in its badges; none for a home that
    has a key alone (`badgechain keys new`)."""
    from badgechain.node.config import CONFIG_FILE, load_config

    return load_config(home).issuer_name if (home / CONFIG_FILE).exists() else ""


def _refuse_overwrite(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise HomeError(f"{out} exists; use --force to overwrite it", code="out_exists")


def _image_kind(data: bytes) -> str:
    return ".png" if data.startswith(b"\x89PNG\r\n\x1a\n") else ".svg"


def _data_uri(data: bytes) -> str | None:
    if len(data) > MAX_EMBEDDED_IMAGE_BYTES:
        return None
    mime = "image/png" if _image_kind(data) == ".png" else "image/svg+xml"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _render(suffix: str, payload: str, image: bytes | None, name: str) -> bytes:
    if suffix == ".json":
        return (payload + "\n").encode()
    from badgechain.chain.images import default_png, default_svg  # only when no --image

    if suffix == ".png":
        return baking.bake_png(image or default_png(), payload)
    return baking.bake_svg(image or default_svg(name), payload)


# -- verify, bake, unbake ----------------------------------------------------------------------


@click.command()
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--online",
    is_flag=True,
    help="Send SOURCE (a file or a UID) to this home's node, which verifies it.",
)
@click.option("--offline", is_flag=True, help="No network at all: what needs it is unchecked.")
@click.option("--gateway", metavar="URL", help="Ask the BNS through this node's gateway.")
@click.option("--recipient", metavar="EMAIL", help="The earner an OB 2.0 badge must name.")
@click.option("--challenge", help="A presentation: the challenge it must be signed for.")
@click.option("--domain", help="A presentation: the domain it must be signed for.")
@click.pass_obj
def verify(
    home: Path,
    source: str,
    as_json: bool,
    online: bool,
    offline: bool,
    gateway: str | None,
    recipient: str | None,
    challenge: str | None,
    domain: str | None,
) -> None:
    """Verify a badge: a JSON file, a baked PNG or SVG, or - for stdin (or a UID, --online).

    Status lists, did:web documents and hosted documents are fetched; the BNS is asked
    through this home's running node (or --gateway). A check that needed the network and
    could not run makes the verdict indeterminate. Exit status: 0 valid, 1 invalid,
    3 indeterminate, 2 usage error.
    """
    # Imported here: the online path needs the HTTP client, the offline one must not pay for it.
    from .verify_commands import verify_file_command, verify_online_command

    if challenge is not None or domain is not None:  # a holder's presentation
        _verify_presentation(home, source, as_json, offline, gateway, challenge, domain)
    if online:
        sys.exit(verify_online_command(home, source, as_json))
    sys.exit(
        verify_file_command(
            home, source, as_json, offline=offline, gateway=gateway, recipient=recipient
        )
    )


def _verify_presentation(
    home: Path,
    source: str,
    as_json: bool,
    offline: bool,
    gateway: str | None,
    challenge: str | None,
    domain: str | None,
) -> NoReturn:
    from badgechain.chain.holder import Binding, HolderError

    from .present_commands import verify_presentation_command

    if challenge is None or domain is None:
        raise click.UsageError("a presentation is verified with both --challenge and --domain")
    try:
        binding = Binding(challenge, domain)
    except HolderError as exc:
        raise click.UsageError(exc.message) from exc
    sys.exit(
        verify_presentation_command(
            home, source, binding, as_json=as_json, offline=offline, gateway=gateway
        )
    )


@click.command()
@click.argument("badge", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("image", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help=".png or .svg"
)
@click.option("--force", is_flag=True, help="Overwrite an existing --out file.")
@reports_errors
def bake(badge: Path, image: Path, out: Path, force: bool) -> None:
    """Bake a badge (JSON or VC-JWT) into a PNG or SVG image."""
    if out.suffix.lower() not in (".png", ".svg"):
        raise click.UsageError(
            f"--out {out.name}: a badge is baked into a PNG or SVG, so --out ends in .png or .svg"
        )
    _refuse_overwrite(out, force)
    try:
        payload = read_bounded(badge, baking.MAX_PAYLOAD_BYTES).decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise HomeError(f"{badge}: not UTF-8 text", code="badge_not_utf8") from exc
    image_bytes = read_bounded(image, MAX_IMAGE_BYTES)
    if _image_kind(image_bytes) != out.suffix.lower():
        raise click.UsageError(
            f"{image.name} is not a {out.suffix[1:].upper()} image: bake it into "
            f"{out.with_suffix(_image_kind(image_bytes)).name}"
        )
    if _image_kind(image_bytes) == ".png":
        write_atomic(out, baking.bake_png(image_bytes, payload))
    else:
        write_atomic(out, baking.bake_svg(image_bytes, payload))
    click.echo(str(out))


@click.command()
@click.argument("image", type=click.Path(dir_okay=False, path_type=Path))
@reports_errors
def unbake(image: Path) -> None:
    """Print the badge baked into a PNG or SVG image."""
    unbaked = baking.unbake(read_bounded(image, MAX_INPUT_BYTES))
    if unbaked.kind == "ob2":
        click.echo("note: an Open Badges 2.0 badge", err=True)
    click.echo(unbaked.payload)


def register(main: click.Group) -> None:
    """Add this module's commands to `main`."""
    for command in (keys, issue, verify, bake, unbake):
        main.add_command(command)
