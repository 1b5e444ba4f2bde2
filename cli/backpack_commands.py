"""The earner's backpack (node/backpack.py): `badges`, `import FILE|URL`, `export`.

`import` takes a badge from another system (OB 3.0 or 2.0 JSON, a baked PNG or SVG, a
VC-JWT), or a backpack `export` wrote: then the home's key is put back when the home has
none, and the badges are restored into the running node.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import click

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.keystore import key_file_is_encrypted, lock_key, unlock_key

from .client import AdminClient
from .common import fetch_for_home, new_passphrase, reports_errors
from .home import KEY_FILE, HomeError, read_bounded, write_atomic

__all__ = ["register"]

BACKPACK_TYPE: Final = "BadgeChainBackpack"  # node/backpack.py's, without loading the node
MAX_IMPORT_BYTES: Final = 10 * 1024 * 1024  # chain.verify's input limit
MAX_BACKPACK_BYTES: Final = 64 * 1024 * 1024
_MAX_KEY_FILE_BYTES: Final = 4096
_FETCH_TIMEOUT_S: Final = 30.0
_CONFIG_FILE: Final = "config.toml"  # node/config.py's, without loading the node


def _call(home: Path, method: str, path: str, body: Any = None) -> Any:
    return AdminClient(home).call(method, path, body)


@click.command("badges")
@click.option("--json", "as_json", is_flag=True, help="Print the node's answer as JSON.")
@click.option("--local", is_flag=True, help="Do not ask the BNS whether each badge is revoked.")
@click.pass_obj
@reports_errors
def badges(home: Path, as_json: bool, local: bool) -> None:
    """List the badges this node holds for its earner, with their state and source.

    Unless --local, the BNS is asked about each badge: one its issuer revoked shows as
    revoked, and one the BNS did not answer for shows its state with "(revoked? unknown)".
    """
    held = _call(home, "GET", "/admin/badges" if local else "/admin/badges?check=bns")["badges"]
    if as_json:
        click.echo(json.dumps(held, indent=2, ensure_ascii=False))
        return
    if not held:
        click.echo("the backpack is empty")
    for badge in held:
        source = f"{badge['source']} from {badge['origin']}" if badge["origin"] else badge["source"]
        state, note = badge["state"], _bns_note(badge)
        if badge.get("bns") == "revoked":
            state = "revoked"
        click.echo(f"{badge['id']}  {state:8}  {badge['name']}  ({source}){note}")


def _bns_note(badge: dict[str, Any]) -> str:
    said = badge.get("bns")
    if said == "revoked":
        reason = badge.get("revocation", {}).get("reason") or "no reason given"
        return f"  revoked by its issuer: {reason}"
    if said == "unreachable":
        return "  (revoked? unknown: the BNS did not answer)"
    if said == "not_checked":
        return "  (revoked? not asked: too many badges at once)"
    return ""


@click.command("import")
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Print the node's answer as JSON.")
@click.pass_obj
@reports_errors
def import_command(home: Path, source: str, as_json: bool) -> None:
    """Import a badge (a file or an http(s) URL) into the backpack, or restore a backpack."""
    data = _read_source(home, source, MAX_BACKPACK_BYTES)
    backpack = _backpack_of(data)
    if backpack is not None:
        _restore(home, backpack, as_json)
        return
    if len(data) > MAX_IMPORT_BYTES:
        raise HomeError(f"a badge is at most {MAX_IMPORT_BYTES} bytes", code="badge_too_large")
    body = {"data": base64.b64encode(data).decode(), "origin": source}
    answer = _call(home, "POST", "/admin/badges/import", body)
    if as_json:
        click.echo(json.dumps(answer, indent=2, ensure_ascii=False))
        return
    badge, verdict = answer["badge"], answer["report"]["verdict"]
    click.echo(f"imported {badge['id']}: {badge['name'] or '(no name)'} ({verdict}, accepted)")


def _backpack_of(data: bytes) -> dict[str, Any] | None:
    if not data.lstrip().startswith(b"{"):
        return None
    try:
        document = parse_json(data, max_bytes=MAX_BACKPACK_BYTES)
    except BadgeChainError:
        return None  # not JSON: the node's verifier says what it is
    is_backpack = isinstance(document, dict) and document.get("type") == BACKPACK_TYPE
    return document if is_backpack else None


def _restore(home: Path, backpack: dict[str, Any], as_json: bool) -> None:
    """Put the backpack's key in a home without one, then its badges into the node."""
    key_text = backpack.get("keyFile")
    key_path = home / KEY_FILE
    if isinstance(key_text, str) and not key_path.exists():
        if not key_file_is_encrypted(key_text.encode()):
            raise HomeError("the backpack's key is not encrypted", code="backpack_invalid")
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(key_path, key_text.encode(), mode=0o600)
        click.echo(f"restored the key of {backpack.get('did')} to {key_path}", err=True)
        if not (home / _CONFIG_FILE).exists():  # a new home: no node to take the badges yet
            click.echo(
                "now run `badgechain init` (it keeps this key), `badgechain node start`, and "
                "this import again to restore the badges"
            )
            return
    badges_only = {k: v for k, v in backpack.items() if k != "keyFile"}
    answer = _call(home, "POST", "/admin/badges/restore", badges_only)
    if as_json:
        click.echo(json.dumps(answer))
    else:
        moving = answer.get("relocating") or 0
        where = f"; moving {moving} locations to this node" if moving else ""
        click.echo(f"restored {answer['restored']} badges{where}")


@click.command("export")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (default: badgechain-backpack-DATE.json here, never overwritten).",
)
@click.option("--no-key", is_flag=True, help="Leave the key out (badges only).")
@click.pass_obj
@reports_errors
def export_command(home: Path, out: Path | None, no_key: bool) -> None:
    """Write every held badge and the home's key (encrypted) to a file `import` restores."""
    if out is None:
        out = Path(f"badgechain-backpack-{datetime.now(UTC):%Y%m%d-%H%M%S}.json")
        if out.exists():
            raise HomeError(f"{out} exists; name another with --out", code="out_exists")
    backpack = _call(home, "GET", "/admin/badges/export")
    if not no_key:
        backpack["keyFile"] = _encrypted_key(home)
    text = json.dumps(backpack, indent=2, ensure_ascii=False) + "\n"
    write_atomic(out, text.encode(), mode=0o600)
    count = len(backpack["badges"]) + len(backpack["imports"])
    click.echo(f"wrote {count} badges{'' if no_key else ' and the key'} to {out}")


def _encrypted_key(home: Path) -> str:
    """The key file as it is when encrypted; else encrypted now with a new passphrase."""
    data = read_bounded(home / KEY_FILE, _MAX_KEY_FILE_BYTES)
    if key_file_is_encrypted(data):
        return data.decode()
    click.echo("the key is not encrypted: choose a passphrase for the export", err=True)
    return lock_key(unlock_key(data, None), new_passphrase()).decode()


def _read_source(home: Path, source: str, max_bytes: int) -> bytes:
    if source.startswith(("https://", "http://")):
        return _fetch(home, source, max_bytes)
    return read_bounded(Path(source), max_bytes)


def _fetch(home: Path, url: str, max_bytes: int) -> bytes:
    """The document at `url`, under the home's outbound rules, bounded."""
    from badgechain.node.fetchers import FetchError

    try:
        body = fetch_for_home(home, url, max_bytes, _FETCH_TIMEOUT_S)
    except FetchError as exc:
        raise HomeError(f"cannot fetch {url:.200}: {exc.message}", code=exc.code) from exc
    if body is None:
        raise HomeError(f"nothing at {url:.200}", code="file_not_found")
    return body


def register(main: click.Group) -> None:
    for command in (badges, import_command, export_command):
        main.add_command(command)
