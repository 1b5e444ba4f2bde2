"""`badgechain trust`: the home's trust registry (node/trust.py, docs/trust.md). The file is
the home's own: commands edit it directly, and a running node reads it at its next
verification."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import click

from badgechain.node.trust import (
    LOCAL,
    MAX_REGISTRY_BYTES,
    TrustEntry,
    TrustError,
    check_follow_key,
    check_issuer_id,
    check_name,
    import_registry,
    load_registry,
    save_registry,
    sign_registry,
)

from .common import fetch_for_home, load_key, reports_errors
from .home import read_bounded, write_atomic

__all__ = ["register"]

_FETCH_TIMEOUT_S = 20.0


@click.group("trust")
def trust_group() -> None:
    """The issuers this home trusts or denies, reported by every verification."""


@trust_group.command("add")
@click.argument("issuer")
@click.option("--name", default="", help="The name reports give the issuer (trusted as NAME).")
@click.option("--deny", is_flag=True, help="Deny the issuer: its badges fail the trust check.")
@click.pass_obj
@reports_errors
def trust_add(home: Path, issuer: str, name: str, deny: bool) -> None:
    """Trust ISSUER (a DID or an issuer URL), or deny it with --deny."""
    entry = TrustEntry(
        check_issuer_id(issuer), check_name(name), "deny" if deny else "allow", LOCAL
    )
    save_registry(home, load_registry(home).with_entry(entry))
    click.echo(f"{'denied' if deny else 'trusted'} {issuer}" + (f" as {name}" if name else ""))


@trust_group.command("remove")
@click.argument("issuer")
@click.pass_obj
@reports_errors
def trust_remove(home: Path, issuer: str) -> None:
    """Take ISSUER off this home's own list (imported lists keep their entries)."""
    registry = load_registry(home)
    if not any(e.id == issuer and e.source == LOCAL for e in registry.entries):
        raise TrustError(f"{issuer:.200} is not on this home's list", code="trust_not_listed")
    save_registry(home, registry.without(issuer))
    click.echo(f"removed {issuer}")


@trust_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the registry as JSON.")
@click.pass_obj
@reports_errors
def trust_list(home: Path, as_json: bool) -> None:
    """List trusted and denied issuers, where each entry came from, and followed keys."""
    registry = load_registry(home)
    if as_json:
        click.echo(json.dumps(registry.to_json(), indent=2, ensure_ascii=False))
        return
    if not registry.entries:
        click.echo("no issuers listed")
    for entry in registry.entries:
        name = f"  {entry.name}" if entry.name else ""
        click.echo(f"{entry.status:5}  {entry.id}{name}  ({entry.source})")
    for key in registry.follows:
        click.echo(f"follows {key}")


@trust_group.command("follow")
@click.argument("key")
@click.pass_obj
@reports_errors
def trust_follow(home: Path, key: str) -> None:
    """Accept registry files signed by KEY (a did:key) in `trust import`."""
    registry = load_registry(home)
    if check_follow_key(key) not in registry.follows:
        save_registry(home, replace(registry, follows=(*registry.follows, key)))
    click.echo(f"following {key}")


@trust_group.command("unfollow")
@click.argument("key")
@click.pass_obj
@reports_errors
def trust_unfollow(home: Path, key: str) -> None:
    """Stop following KEY and drop the entries its registry files brought."""
    registry = load_registry(home)
    kept = tuple(e for e in registry.entries if e.source != key)
    follows = tuple(k for k in registry.follows if k != key)
    imported = tuple(item for item in registry.imported if item[0] != key)
    save_registry(home, replace(registry, entries=kept, follows=follows, imported=imported))
    click.echo(f"unfollowed {key}")


@trust_group.command("import")
@click.argument("source")
@click.pass_obj
@reports_errors
def trust_import(home: Path, source: str) -> None:
    """Import a registry file (a path or an http(s) URL) signed by a followed key."""
    data = _fetch(home, source) if source.startswith(("https://", "http://")) else None
    if data is None:
        data = read_bounded(Path(source), MAX_REGISTRY_BYTES)
    signer, count = import_registry(home, data)
    click.echo(f"imported {count} issuers signed by {signer}")


@trust_group.command("publish")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.pass_obj
@reports_errors
def trust_publish(home: Path, out: Path | None) -> None:
    """Write this home's own entries as a registry file signed by its key (for others to
    `trust follow` its key and `trust import` the file)."""
    document = sign_registry(load_registry(home), load_key(home), datetime.now(UTC))
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        write_atomic(out, text.encode())
        click.echo(f"wrote {out} (signed by {document['signer']})")


def _fetch(home: Path, url: str) -> bytes:
    """The registry at `url`, under the home's outbound rules, at most 1 MiB."""
    from badgechain.node.fetchers import FetchError

    try:
        body = fetch_for_home(home, url, MAX_REGISTRY_BYTES, _FETCH_TIMEOUT_S)
    except FetchError as exc:
        raise TrustError(f"cannot fetch {url:.200}: {exc.message}", code=exc.code) from exc
    if body is None:
        raise TrustError(f"nothing at {url:.200}", code="trust_file_not_found")
    return body


def register(main: click.Group) -> None:
    main.add_command(trust_group)
