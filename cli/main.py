"""The `badgechain` command line.

Each command lives in a module of this package that is imported only when that command
runs: `--help` needs none of them, and offline work never loads the HTTP client (issue 13
item 3; tests/cli/test_startup.py checks which modules each path imports).
"""

from __future__ import annotations

import os
from importlib import import_module
from pathlib import Path

import click

__all__ = ["COMMANDS", "main"]

# Command → (module of badgechain.cli whose register() adds it, the line `--help` shows).
# tests/cli/test_startup.py holds each line equal to the command's own first sentence.
COMMANDS: dict[str, tuple[str, str]] = {
    "accept": (
        "earner_commands",
        "Accept a badge of the inbox: publish this node's URL for it in the BNS.",
    ),
    "badges": (
        "backpack_commands",
        "List the badges this node holds for its earner, with their state and source.",
    ),
    "bake": ("local_commands", "Bake a badge (JSON or VC-JWT) into a PNG or SVG image."),
    "claim": (
        "claim_commands",
        "Claim a badge issued to your email: its issuer hands it over to this node's key.",
    ),
    "class": ("issuer_commands", "Define badge classes (Achievements) on this home's node."),
    "collection": (
        "persona_commands",
        "Collections: public, shareable lists of badges this node holds.",
    ),
    "completion": ("completion", "Print the shell completion script for bash, zsh or fish."),
    "config": ("config_commands", "Read and change this home's settings (config.toml)."),
    "course": (
        "course_commands",
        "Courses: tasks awarded for blog posts with a hashtag, harvested from feeds.",
    ),
    "crawl": (
        "crawl_commands",
        "Crawl web pages and feeds from START_URL and verify every badge they link.",
    ),
    "devnet": ("devnet", "Run a small BadgeChain network on this machine until Ctrl-C."),
    "earner-badges": (
        "earner_lookup_commands",
        "List the badges an earner shows in the BNS (did:key, did:web or urn:bns: persona).",
    ),
    "endorse": (
        "persona_commands",
        "Endorse a badge: sign an EndorsementCredential about it and deliver it to its earner.",
    ),
    "export": (
        "backpack_commands",
        "Write every held badge and the home's key (encrypted) to a file `import` restores.",
    ),
    "hide": (
        "earner_commands",
        "Hide an accepted badge: it stays valid, and the BNS says where it is no more.",
    ),
    "inbox": (
        "earner_commands",
        "List the badges delivered to this node that wait for accept or reject.",
    ),
    "import": (
        "backpack_commands",
        "Import a badge (a file or an http(s) URL) into the backpack, or restore a backpack.",
    ),
    "init": (
        "node_commands",
        "Create a home: a key (unless one exists), config.toml and an admin token.",
    ),
    "issue": ("local_commands", "Issue a badge; prints its UID."),
    "keys": ("local_commands", "Create and show this home's issuer key."),
    "log": ("log_commands", "The node's signed, hash-linked log."),
    "lookup": (
        "verify_commands",
        "Print the merged BNS record of UID (asks this home's running node).",
    ),
    "mail": (
        "mail_commands",
        "Claim mail this node sends for badges issued to an email address.",
    ),
    "move": (
        "earner_commands",
        "Publish where an accepted badge can be fetched now (one to four URLs).",
    ),
    "node": ("node_commands", "Run this home's node."),
    "persona": (
        "persona_commands",
        "Personas: genesis badges that badges can be issued to (urn:bns:<UID>).",
    ),
    "present": (
        "present_commands",
        "Present badges this node holds to a verifier, signed for its challenge and domain.",
    ),
    "queue": (
        "queue_commands",
        "Work the node does in the background (publishing, deliveries, revocations, batches).",
    ),
    "reject": (
        "earner_commands",
        "Reject a badge of the inbox: its copy is deleted and it is not published.",
    ),
    "revoke": ("issuer_commands", "Revoke a badge this node issued: publishes the BNS revocation."),
    "show": ("earner_commands", "Undo `hide`: publish this node's URL for a hidden badge again."),
    "trust": (
        "trust_commands",
        "The issuers this home trusts or denies, reported by every verification.",
    ),
    "unbake": ("local_commands", "Print the badge baked into a PNG or SVG image."),
    "verify": (
        "local_commands",
        "Verify a badge: a JSON file, a baked PNG or SVG, or - for stdin (or a UID, --online).",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are loaded from their module on first use."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._loaded: set[str] = set()

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module = COMMANDS[cmd_name][0]
            if module not in self._loaded:
                self._loaded.add(module)
                import_module(f"badgechain.cli.{module}").register(self)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table above, so `--help` imports no command module."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [
            (name, click.utils.make_default_short_help(COMMANDS[name][1], limit))
            if name in COMMANDS and name not in self.commands
            else (name, self.commands[name].get_short_help_str(limit))
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _default_home() -> Path:
    return Path(os.environ.get("BADGECHAIN_HOME") or Path.home() / ".badgechain")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="BadgeChain home folder (default: $BADGECHAIN_HOME or ~/.badgechain).",
)
@click.version_option(package_name="badgechain", prog_name="badgechain")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """BadgeChain: open badges that carry their own proof.

    Shell completion: `eval "$(badgechain completion bash)"` in ~/.bashrc (or zsh, fish).
    """
    ctx.obj = home or _default_home()
