"""What every command shares: exit codes, error reporting, the key and its passphrase."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import KeyPair
from badgechain.chain.keystore import key_file_is_encrypted, unlock_key
from badgechain.storage.errors import StorageError

from .home import KEY_FILE, HomeError, read_bounded

__all__ = [
    "EXIT_INDETERMINATE",
    "EXIT_INVALID",
    "EXIT_USAGE",
    "EXIT_VALID",
    "PASSPHRASE_ENV",
    "check_earner",
    "fail",
    "fetch_for_home",
    "load_key",
    "new_passphrase",
    "reports_errors",
]

EXIT_VALID, EXIT_INVALID, EXIT_USAGE, EXIT_INDETERMINATE = 0, 1, 2, 3
PASSPHRASE_ENV = "BADGECHAIN_PASSPHRASE"  # noqa: S105 (the variable's name, not a secret)
F = TypeVar("F", bound=Callable[..., Any])


def fail(error: BadgeChainError, exit_code: int = EXIT_INVALID) -> NoReturn:
    click.echo(f"error [{error.code}]: {error.message}", err=True)
    sys.exit(exit_code)


def reports_errors(func: F) -> F:
    """Turn BadgeChain errors into one line on stderr and an exit code, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (HomeError, StorageError) as exc:  # a file the user named, or a busy database
            fail(exc, EXIT_USAGE)
        except BadgeChainError as exc:
            fail(exc)

    return wrapper  # type: ignore[return-value]


def new_passphrase() -> str:
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise HomeError(
            f"no terminal to ask for a passphrase: set {PASSPHRASE_ENV} or use --no-passphrase",
            code="passphrase_required",
        )
    return str(
        click.prompt("Passphrase for the new key", hide_input=True, confirmation_prompt=True)
    )


def load_key(home: Path) -> KeyPair:
    data = read_bounded(home / KEY_FILE, 4096)
    passphrase = None
    if key_file_is_encrypted(data):
        passphrase = os.environ.get(PASSPHRASE_ENV)
        if passphrase is None and sys.stdin.isatty():
            passphrase = str(click.prompt("Key passphrase", hide_input=True))
    return unlock_key(data, passphrase)


# did:key's multibase prefix of an Ed25519 public key (multicodec 0xed01, base58btc).
_ED25519_DID_KEY = "did:key:z6Mk"


def check_earner(subject: str | None) -> None:
    """A usage error, before anything is signed, for a did:key earner that is not Ed25519:
    the chain's own error ("Multikey is not an Ed25519 public key (0xed01)") does not say
    which argument is wrong."""
    if subject and subject.startswith("did:key:") and not subject.startswith(_ED25519_DID_KEY):
        raise click.UsageError(
            f"--to {subject[:24]}…: not an Ed25519 did:key; an earner's did:key starts "
            f"with {_ED25519_DID_KEY} (`badgechain keys show` on the earner's home prints it)"
        )


def fetch_for_home(home: Path, url: str, max_bytes: int, timeout_s: float) -> bytes | None:
    """The body at `url` (None when nothing is there) under the home's outbound rules, read
    from its config (the defaults when it has none); raises node.fetchers.FetchError."""
    import asyncio

    from badgechain.node.config import NodeConfig, load_config
    from badgechain.node.fetchers import get, mapped_session

    try:
        config = load_config(home)
    except BadgeChainError:
        config = NodeConfig()

    async def fetch() -> bytes | None:
        async with mapped_session(config, timeout_s) as session:
            got = await get(session, url, max_bytes, redirects=3)
        return None if got is None else got[0]

    return asyncio.run(fetch())
