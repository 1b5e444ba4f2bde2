"""The README and docs a newcomer reads (issue 16 items 1, 7 and 17): their links lead to files
of this repository (no ../shared/DESIGN.md), and every `badgechain …` they show names a real
command and real options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from badgechain.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
_FENCE = re.compile(r"```sh\n(.*?)```", re.DOTALL)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_relative_links_lead_to_files_of_the_repository(page: Path) -> None:
    for target in _LINK.findall(page.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
        assert resolved.exists(), f"{page.name} links to a missing {target}"


def test_the_readme_says_what_shared_is_and_links_the_design_here() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docs/design.md" in readme and "shared/DESIGN.md" not in readme
    assert "**`../shared`**" in readme and "skipped" in readme


def _readme_commands() -> list[list[str]]:
    commands = []
    for block in _FENCE.findall((ROOT / "README.md").read_text()):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line.split("#", 1)[0] if " # " in line else line)
            if words and words[0].endswith("badgechain"):
                commands.append(words[1:])
    return commands


def test_every_readme_command_exists_with_its_options() -> None:
    commands = _readme_commands()
    assert len(commands) > 20
    for words in commands:
        group: click.Command = main
        args = [w for w in words if w not in ("--home",)]
        while isinstance(group, click.Group) and args and not args[0].startswith("-"):
            found = group.get_command(click.Context(group), args[0])
            assert found is not None, f"no command {args[0]!r} in: badgechain {' '.join(words)}"
            group, args = found, args[1:]
        known = {opt for param in group.params for opt in param.opts}
        for word in args:
            if word.startswith("--"):
                assert word in known, f"{word} is not an option of: badgechain {' '.join(words)}"
