"""Install the pinned JSON-LD contexts from their npm packages into chain/contexts/installed/.

Usage: python scripts/install_contexts.py [--check | --relock]. Standard library only;
needs `npm` (and `node` for contexts shipped as CommonJS modules) unless --check.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCK_PATH = REPO_ROOT / "chain" / "contexts.lock.json"
DEST_DIR = REPO_ROOT / "chain" / "contexts" / "installed"
INDEX_NAME = "index.json"
MAX_MEMBER_BYTES = 1024 * 1024
NPM_TIMEOUT_S = 180
NODE_TIMEOUT_S = 60
FORMATS = ("json", "commonjs")
# The module is executed by node only to read its exported object; nothing else is loaded.
_NODE_EXPORT = "process.stdout.write(JSON.stringify(require(process.argv[1])))"


class InstallError(Exception):
    """Anything that stops an installation: the message says what and how to fix it."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One context URL of the lock: where its document comes from and what it must hash to."""

    url: str
    package: str
    version: str
    integrity: str
    path: str
    fmt: str
    sha256: str
    aliases: tuple[str, ...]

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"

    @property
    def file_name(self) -> str:
        return installed_file_name(self.url)


def installed_file_name(url: str) -> str:
    """A stable, flat file name for a context URL (scheme and extension dropped)."""
    stem = re.sub(r"^https?://", "", url)
    stem = re.sub(r"\.json(ld)?$", "", stem)
    return re.sub(r"[^A-Za-z0-9.-]+", "_", stem).strip("_") + ".json"


def canonical_bytes(document: Any) -> bytes:
    """The form that is hashed and written: sorted keys, no spaces, UTF-8."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def sha512_integrity(data: bytes) -> str:
    """Subresource-Integrity string, as npm reports a tarball's `integrity`."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def read_lock(path: Path) -> list[Entry]:
    try:
        lock = json.loads(path.read_text(encoding="utf-8"))
        return [_entry(url, fields) for url, fields in lock["contexts"].items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InstallError(f"cannot read the lock {path}: {exc}") from exc


def _entry(url: str, fields: dict[str, Any]) -> Entry:
    fmt = fields.get("format", "json")
    if fmt not in FORMATS:
        raise InstallError(f"{url}: format must be one of {FORMATS}, not {fmt!r}")
    return Entry(
        url=url,
        package=str(fields["package"]),
        version=str(fields["version"]),
        integrity=str(fields.get("integrity", "")),
        path=str(fields["path"]),
        fmt=fmt,
        sha256=str(fields.get("sha256", "")),
        aliases=tuple(str(alias) for alias in fields.get("aliases", [])),
    )


def expected_index(entries: Iterable[Entry]) -> dict[str, str]:
    """URL (and alias) → installed file name."""
    index: dict[str, str] = {}
    for entry in entries:
        for url in (entry.url, *entry.aliases):
            index[url] = entry.file_name
    return index


def problems_with_installation(entries: Sequence[Entry], dest: Path) -> list[str]:
    """What differs between the lock and the installed folder; empty when it is up to date."""
    try:
        index = json.loads((dest / INDEX_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [f"{dest / INDEX_NAME} is missing or unreadable"]
    problems = []
    if index != expected_index(entries):
        problems.append(f"{INDEX_NAME} does not match the lock")
    for entry in entries:
        try:
            digest = hashlib.sha256((dest / entry.file_name).read_bytes()).hexdigest()
        except OSError:
            problems.append(f"{entry.url}: {entry.file_name} is missing")
            continue
        if digest != entry.sha256:
            problems.append(f"{entry.url}: sha256 {digest} != lock {entry.sha256}")
    return problems


def npm_pack(spec: str, workdir: Path) -> tuple[bytes, str]:
    """Download a package tarball with npm; its bytes and the integrity npm reported."""
    command = [
        "npm",
        "pack",
        spec,
        "--json",
        "--ignore-scripts",
        "--pack-destination",
        str(workdir),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"npm pack {spec} failed: {exc}") from exc
    if done.returncode != 0:
        raise InstallError(
            f"npm pack {spec} exited {done.returncode}: {done.stderr.strip()[-500:]}"
        )
    try:
        report = json.loads(done.stdout)[0]
        tarball = workdir / Path(report["filename"]).name
        return tarball.read_bytes(), str(report["integrity"])
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise InstallError(f"npm pack {spec}: unexpected output ({exc})") from exc


def read_member(tarball: bytes, member_path: str, workdir: Path) -> bytes:
    """One regular file out of a .tgz, read in memory: nothing is extracted to disk."""
    archive = workdir / "package.tgz"
    archive.write_bytes(tarball)
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            member = tar.getmember(member_path)
            if not member.isfile() or member.size > MAX_MEMBER_BYTES:
                raise InstallError(
                    f"{member_path} is not a regular file under {MAX_MEMBER_BYTES} B"
                )
            handle = tar.extractfile(member)
            if handle is None:
                raise InstallError(f"{member_path} cannot be read from the tarball")
            return handle.read(MAX_MEMBER_BYTES + 1)
    except (KeyError, tarfile.TarError, OSError) as exc:
        raise InstallError(f"{member_path} not found in the tarball: {exc}") from exc
    finally:
        archive.unlink(missing_ok=True)


def to_document(raw: bytes, entry: Entry, workdir: Path) -> Any:
    """The context as JSON data, from a .jsonld file or the object a CommonJS module exports."""
    try:
        if entry.fmt == "json":
            return json.loads(raw.decode("utf-8"))
        return commonjs_export(raw, workdir)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InstallError(f"{entry.url}: {entry.path} is not JSON ({exc})") from exc


def commonjs_export(raw: bytes, workdir: Path) -> Any:
    """Run a self-contained CommonJS module under node and read its `module.exports`."""
    module = workdir / "context-module.cjs"
    module.write_bytes(raw)
    try:
        done = subprocess.run(
            ["node", "-e", _NODE_EXPORT, str(module)],
            capture_output=True,
            timeout=NODE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"node could not read the module: {exc}") from exc
    finally:
        module.unlink(missing_ok=True)
    if done.returncode != 0:
        raise InstallError(f"node exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return json.loads(done.stdout.decode("utf-8"))


def fetch_documents(
    entries: Sequence[Entry], workdir: Path, *, pinned: bool = True
) -> dict[str, tuple[str, bytes]]:
    """Download each package once; URL → (tarball integrity, canonical bytes of the context).

    With `pinned`, a tarball is checked against the lock before anything in it is read or
    run: node executes CommonJS context modules, so only a verified tarball may reach it.
    """
    documents: dict[str, tuple[str, bytes]] = {}
    for spec in sorted({entry.spec for entry in entries}):
        group = [entry for entry in entries if entry.spec == spec]
        print(f"npm pack {spec}", file=sys.stderr)
        tarball, reported = npm_pack(spec, workdir)
        integrity = sha512_integrity(tarball)
        if reported != integrity:
            raise InstallError(f"{spec}: npm reported {reported} but the tarball is {integrity}")
        for entry in group:
            if pinned and integrity != entry.integrity:
                raise InstallError(
                    f"{spec}: tarball integrity {integrity} != lock {entry.integrity} "
                    "(after a deliberate version bump, run with --relock)"
                )
            documents[entry.url] = (integrity, _context_bytes(tarball, entry, workdir))
    return documents


def _context_bytes(tarball: bytes, entry: Entry, workdir: Path) -> bytes:
    document = to_document(read_member(tarball, entry.path, workdir), entry, workdir)
    if not isinstance(document, dict) or "@context" not in document:
        raise InstallError(f"{entry.url}: {entry.path} has no @context")
    return canonical_bytes(document)


def check_hashes(entries: Sequence[Entry], documents: dict[str, tuple[str, bytes]]) -> None:
    for entry in entries:
        digest = hashlib.sha256(documents[entry.url][1]).hexdigest()
        if digest != entry.sha256:
            raise InstallError(f"{entry.url}: sha256 {digest} != lock {entry.sha256}")


def write_atomic(path: Path, data: bytes) -> None:
    """Write beside the target, then rename over it, so readers never see half a file."""
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp_name, 0o644)  # mkstemp makes 0600; these files are public data
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def install(entries: Sequence[Entry], documents: dict[str, tuple[str, bytes]], dest: Path) -> None:
    """Write every context, then the index last: an interrupted run leaves no valid index."""
    dest.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        write_atomic(dest / entry.file_name, documents[entry.url][1])
    index = expected_index(entries)
    write_atomic(dest / INDEX_NAME, canonical_bytes(index) + b"\n")
    keep = {*index.values(), INDEX_NAME}
    for stale in dest.glob("*.json"):
        if stale.name not in keep:
            stale.unlink()


def relock(lock_path: Path, documents: dict[str, tuple[str, bytes]]) -> None:
    """Record the integrity and sha256 of what was just downloaded (after a version bump)."""
    lock = json.loads(lock_path.read_text(encoding="utf-8"))
    for url, fields in lock["contexts"].items():
        integrity, data = documents[url]
        fields["integrity"] = integrity
        fields["sha256"] = hashlib.sha256(data).hexdigest()
    text = json.dumps(lock, indent=2, ensure_ascii=False) + "\n"
    write_atomic(lock_path, text.encode("utf-8"))


def run(mode: str, lock_path: Path, dest: Path) -> str:
    """Carry out one mode; returns the line to print, raises InstallError on any mismatch."""
    entries = read_lock(lock_path)
    problems = problems_with_installation(entries, dest)
    if mode == "check":
        if problems:
            raise InstallError("contexts are not installed as locked:\n  " + "\n  ".join(problems))
        return f"{len(entries)} contexts installed as locked in {dest}"
    if mode == "install" and not problems:
        return f"{len(entries)} contexts already installed in {dest}"
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise InstallError("npm and node must be on PATH to install the contexts")
    with tempfile.TemporaryDirectory(prefix="badgechain-contexts-") as temp:
        documents = fetch_documents(entries, Path(temp), pinned=mode != "relock")
    if mode == "relock":
        relock(lock_path, documents)
        entries = read_lock(lock_path)
    check_hashes(entries, documents)
    install(entries, documents, dest)
    return f"installed {len(entries)} contexts into {dest}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--check", action="store_true", help="verify the installation, offline")
    modes.add_argument(
        "--relock", action="store_true", help="rewrite the lock's hashes from a fresh download"
    )
    parser.add_argument("--lock", type=Path, default=LOCK_PATH, help=argparse.SUPPRESS)
    parser.add_argument("--dest", type=Path, default=DEST_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    mode = "check" if args.check else "relock" if args.relock else "install"
    try:
        print(run(mode, args.lock, args.dest))
    except InstallError as exc:
        print(f"install_contexts: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
