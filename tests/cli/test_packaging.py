"""Packaging (issue 16 item 18): the licence pyproject.toml names ships as LICENSE, in the form
setuptools takes without a warning, and every folder the packages hold is listed, so
setuptools has no importable folder outside `packages` to warn about."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _project() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_licence_is_an_spdx_string_and_its_file_ships() -> None:
    project = _project()["project"]
    assert project["license"] == "Apache-2.0"  # a table is deprecated by setuptools
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_every_folder_inside_a_package_is_listed() -> None:
    tool = _project()["tool"]["setuptools"]
    packages = set(tool["packages"])
    root_name, root_dir = next(iter(tool["package-dir"].items()))
    assert root_name == "badgechain"
    found = set()
    for package in packages:
        folder = ROOT / root_dir / Path(*package.split(".")[1:])
        if folder.is_dir():  # chain/contexts/installed appears when scripts/setup runs
            found |= {
                f"{package}.{child.name}"
                for child in folder.iterdir()
                if child.is_dir() and child.name != "__pycache__" and any(child.iterdir())
            }
    assert found - packages == set()


def test_package_data_names_listed_packages() -> None:
    tool = _project()["tool"]["setuptools"]
    assert set(tool["package-data"]) <= set(tool["packages"])
