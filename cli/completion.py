"""`badgechain completion SHELL`: the script that makes the shell complete commands and options.

It is click's own completion (the `_BADGECHAIN_COMPLETE` variable), printed so it can be
installed with one line, e.g. `eval "$(badgechain completion bash)"` in ~/.bashrc.
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

__all__ = ["register"]

SHELLS = ("bash", "zsh", "fish")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish.

    Install it with `eval "$(badgechain completion bash)"` in ~/.bashrc, the same with zsh
    in ~/.zshrc, or `badgechain completion fish > ~/.config/fish/completions/badgechain.fish`.
    """
    root = ctx.find_root().command
    completer = get_completion_class(shell)
    if completer is None:  # every name in SHELLS has one; a click upgrade could drop one
        raise click.UsageError(f"click has no completion for {shell}")
    click.echo(completer(root, {}, "badgechain", "_BADGECHAIN_COMPLETE").source())


def register(main: click.Group) -> None:
    """Add `completion` to `main`."""
    main.add_command(completion)
