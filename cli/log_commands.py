"""The node log from the command line: `badgechain log verify URL|--home HOME`, and
`badgechain log open SEQ` (what a sealed, private entry says, for its owner).

With a URL, the log is read page by page from the node's public gateway (bounded answers,
timeouts) and checked against the DID the node names at /health; with --home, it is read
from a stopped node's LevelDB and checked against the home's key. Either way the whole log
is walked and the first bad entry is named (chain/nodelog.py).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import click

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.logentry import LOG_SIGNER_MISMATCH
from badgechain.chain.nodelog import (
    MAX_ENTRY_BYTES,
    MAX_LOG_ENTRIES,
    Checkpoint,
    LogVerdict,
    LogVerifier,
    parse_checkpoint,
    verify_log,
)
from badgechain.node.config import DB_DIR, ConfigError, load_config
from badgechain.node.nodelog import MAX_PAGE, iter_entries, read_head, read_opening
from badgechain.storage import LevelStore, StorageError
from badgechain.storage.errors import STORAGE_LOCKED

from .client import AdminClient, NodeError, why_no_answer
from .common import EXIT_INDETERMINATE, EXIT_INVALID, EXIT_USAGE, EXIT_VALID, fail, reports_errors
from .home import KEY_FILE, HomeError, read_bounded

__all__ = ["fetch_and_verify", "open_entry_of", "register", "verify_home_log"]

_TIMEOUT: Final = aiohttp.ClientTimeout(total=30, connect=10)
# A full page: MAX_PAGE entries of at most MAX_ENTRY_BYTES, the head and some slack.
_MAX_PAGE_BYTES: Final = MAX_PAGE * MAX_ENTRY_BYTES * 2 + 64 * 1024
_MAX_HEALTH_BYTES: Final = 64 * 1024


# -- from a running node, over HTTP --------------------------------------------------------


async def _get_json(session: aiohttp.ClientSession, url: str, max_bytes: int) -> Any:
    try:
        async with session.get(url, allow_redirects=False) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise NodeError(f"the answer from {url} is over {max_bytes} bytes")
                chunks.append(chunk)
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise NodeError(
            f"no answer from {url}: {why_no_answer(exc)}", code="node_unreachable"
        ) from exc
    if status != 200:
        raise NodeError(f"{url} answered HTTP {status}", code="node_error")
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError) as exc:  # RecursionError: hostile nesting
        raise NodeError(f"{url} answered with something other than JSON") from exc


async def _crawl(
    base_url: str, signer_did: str | None, checkpoint: Checkpoint | None
) -> LogVerdict:
    async with aiohttp.ClientSession(timeout=_TIMEOUT) as session:
        if signer_did is None:
            health = await _get_json(session, f"{base_url}/health", _MAX_HEALTH_BYTES)
            signer_did = health.get("did") if isinstance(health, dict) else None
            if not isinstance(signer_did, str):
                raise NodeError(f"{base_url}/health names no DID", code="node_error")
        verifier = LogVerifier(signer_did, checkpoint)
        after: int | None = None
        while True:
            query = f"?limit={MAX_PAGE}" + ("" if after is None else f"&after={after}")
            page = await _get_json(session, f"{base_url}/log{query}", _MAX_PAGE_BYTES)
            entries, head, following = _read_page(page)
            for entry in entries:
                verifier.add(entry)
            if following is None:
                return verifier.finish(head)
            if (after is not None and following <= after) or verifier.count > MAX_LOG_ENTRIES:
                raise NodeError("the node's log pages do not advance", code="node_error")
            after = following


def _read_page(page: Any) -> tuple[list[Any], Any, int | None]:
    if not isinstance(page, dict) or not isinstance(page.get("entries"), list):
        raise NodeError("a /log answer is {entries, head, next}", code="node_error")
    following = page.get("next")
    if following is not None and (not isinstance(following, int) or isinstance(following, bool)):
        raise NodeError("a /log answer's next is a number or null", code="node_error")
    return page["entries"], page.get("head"), following


def fetch_and_verify(
    url: str, *, signer_did: str | None = None, checkpoint: Checkpoint | None = None
) -> LogVerdict:
    """Walk the whole log of the node whose gateway is at `url`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HomeError(f"{url!r:.80} is not an http(s) URL", code="url_invalid")
    return asyncio.run(_crawl(url.rstrip("/"), signer_did, checkpoint))


# -- from a stopped node's database -------------------------------------------------------


def _home_did(home: Path) -> str:
    try:
        record = json.loads(read_bounded(home / KEY_FILE, 4096))
    except ValueError as exc:
        raise HomeError(f"{home / KEY_FILE} is not a key file", code="key_invalid") from exc
    did = record.get("did") if isinstance(record, dict) else None
    if not isinstance(did, str):
        raise HomeError(f"{home / KEY_FILE} names no DID", code="key_invalid")
    return did


def _open_store(home: Path) -> LevelStore:
    path = home / DB_DIR
    if not path.is_dir():
        raise HomeError(f"no node database at {path}", code="home_error")
    try:
        return LevelStore(path)
    except StorageError as exc:
        if exc.code != STORAGE_LOCKED:
            raise
        raise StorageError(
            f"the node's database at {path} is in use: the node is running. Verify its log "
            f"through its gateway instead: badgechain log verify {_gateway_hint(home)}",
            code=STORAGE_LOCKED,
        ) from exc


def _gateway_hint(home: Path) -> str:
    try:
        return f"http://127.0.0.1:{load_config(home).http_port}"
    except (ConfigError, OSError):
        return "URL"


def verify_home_log(
    home: Path, *, signer_did: str | None = None, checkpoint: Checkpoint | None = None
) -> LogVerdict:
    """Walk the whole log in the LevelDB of the (stopped) node at `home`."""
    did = signer_did or _home_did(home)
    store = _open_store(home)
    try:
        head = read_head(store)
        return verify_log(iter_entries(store), signer_did=did, head=head, checkpoint=checkpoint)
    finally:
        store.close()


def open_entry_of(home: Path, seq: int) -> dict[str, Any]:
    """Entry `seq` of the node at `home`, opened: from its database when the node is
    stopped, else from the running node (GET /admin/log/open, with the admin token)."""
    try:
        store = _open_store(home)
    except StorageError as exc:
        if exc.code != STORAGE_LOCKED:
            raise
        answer = AdminClient(home).call("GET", f"/admin/log/open?seq={seq}")
        if not isinstance(answer, dict):
            raise NodeError("the node's answer is not an opened entry") from None
        return answer
    try:
        return read_opening(store, seq)
    finally:
        store.close()


# -- the command ---------------------------------------------------------------------------


def describe_verdict(verdict: LogVerdict) -> str:
    if verdict.ok:
        head = "none" if verdict.head_seq is None else f"{verdict.head_seq} {verdict.head_hash}"
        return f"log ok: {verdict.count} entries, head {head}"
    where = "" if verdict.bad_seq is None else f" at entry {verdict.bad_seq}"
    return f"log invalid{where}: {verdict.code}: {verdict.message}"


def register(main: click.Group) -> None:
    """Add the `log` group (`log verify`) to `main`."""

    @main.group("log")
    def log_group() -> None:
        """The node's signed, hash-linked log."""

    @log_group.command("verify")
    @click.argument("url", required=False)
    @click.option(
        "--home",
        "log_home",
        type=click.Path(file_okay=False, path_type=Path),
        help="Read the log of a stopped node from this home's database.",
    )
    @click.option("--checkpoint", help="SEQ:HASH of an entry seen earlier; it must still be there.")
    @click.option(
        "--did", "signer_did", help="The DID that must sign the log (default: the node's)."
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
    @click.pass_obj
    @reports_errors
    def verify(
        home: Path,
        url: str | None,
        log_home: Path | None,
        checkpoint: str | None,
        signer_did: str | None,
        as_json: bool,
    ) -> None:
        """Check a node's whole log (URL: its gateway; or --home of a stopped node)."""
        if url is not None and log_home is not None:
            raise click.UsageError("give a URL or --home, not both")
        try:
            mark = None if checkpoint is None else parse_checkpoint(checkpoint)
            if url is not None:
                verdict = fetch_and_verify(url, signer_did=signer_did, checkpoint=mark)
            else:
                verdict = verify_home_log(log_home or home, signer_did=signer_did, checkpoint=mark)
        except NodeError as exc:  # the node did not answer usably: no verdict on its log
            fail(exc, EXIT_INDETERMINATE)
        except BadgeChainError as exc:  # a bad URL, checkpoint, DID or home; a busy database
            fail(exc, EXIT_USAGE)
        if as_json:
            click.echo(json.dumps({"source": url or str(log_home or home), **verdict.to_json()}))
        else:
            click.echo(describe_verdict(verdict))
            if verdict.code == LOG_SIGNER_MISMATCH:
                expected = signer_did or "the DID the node reports at /health"
                click.echo(
                    f"note: the log had to be signed by {expected}; give the node's own DID "
                    "with --did if that is not it",
                    err=True,
                )
            if url is not None and signer_did is None:
                click.echo(
                    "note: the signer is the DID the node itself reports; pass --did (and"
                    " --checkpoint from an earlier run) to pin whose history this must be",
                    err=True,
                )
        raise SystemExit(EXIT_VALID if verdict.ok else EXIT_INVALID)

    @log_group.command("open")
    @click.argument("seq", type=click.IntRange(0, 2**53 - 1))
    @click.option(
        "--home",
        "log_home",
        type=click.Path(file_okay=False, path_type=Path),
        help="The node's home (default: the current home).",
    )
    @click.pass_obj
    @reports_errors
    def open_command(home: Path, seq: int, log_home: Path | None) -> None:
        """Show what entry SEQ of this node's log says, with the salt that opens a sealed
        (private) entry's commitment, as JSON."""
        click.echo(json.dumps(open_entry_of(log_home or home, seq), indent=2, sort_keys=True))
