"""The JavaScript reference stack as a test peer (js/peer.mjs), installed by npm once per lockfile.

The packages go to .cache/npm-interop/<lockfile hash>/ (git-ignored) and are reused while
package.json and package-lock.json stay the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

__all__ = ["JsPeer", "PeerError", "start_js_peer"]

JS_DIR = Path(__file__).resolve().parent / "js"
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_ROOT = REPO_ROOT / ".cache" / "npm-interop"
CONTEXTS_DIR = REPO_ROOT / "chain" / "contexts" / "installed"
MANIFESTS = ("package.json", "package-lock.json")
DONE_MARKER = ".installed"
# Below pytest-timeout's 120 s per test, which covers fixture setup too.
NPM_TIMEOUT_S = 100
PEER_TIMEOUT_S = 60


class PeerError(Exception):
    """The peer refused its input or crashed (exit status other than 0)."""


@dataclass(frozen=True, slots=True)
class JsPeer:
    """Runs peer.mjs once per call: JSON in on stdin, JSON out on stdout."""

    script: Path
    contexts: Path

    def call(self, command: str, payload: Any) -> Any:
        done = subprocess.run(
            ["node", str(self.script), command, "--contexts", str(self.contexts)],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            timeout=PEER_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise PeerError(f"peer {command} exited {done.returncode}: {done.stderr[-2000:]}")
        return json.loads(done.stdout)

    def key(self, seed: bytes) -> dict[str, str]:
        """The did:key, verification method and Multikey that JS derives from a seed."""
        answer: dict[str, str] = self.call("key", {"seedHex": seed.hex()})
        return answer

    def sign(self, credential: dict[str, Any], seed: bytes, created: datetime) -> dict[str, Any]:
        """`credential` secured by JS with an eddsa-rdfc-2022 proof from the seed's did:key."""
        payload = {"credential": credential, "seedHex": seed.hex(), "created": _xsd(created)}
        signed: dict[str, Any] = self.call("sign", payload)
        return signed

    def verify(self, credential: dict[str, Any]) -> tuple[bool, list[str]]:
        answer = self.call("verify", {"credential": credential})
        return bool(answer["verified"]), list(answer["errors"])

    def verify_batch(self, credentials: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float]:
        """Each credential's result, and the milliseconds JS spent verifying them all."""
        answer = self.call("verify-batch", credentials)
        return list(answer["results"]), float(answer["elapsedMs"])


def _xsd(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lock_key() -> str:
    digest = hashlib.sha256()
    for name in MANIFESTS:
        digest.update((JS_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def _install_packages(target: Path) -> None:
    """npm ci into a private folder, then rename it into place, so a half install never counts."""
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=CACHE_ROOT))
    staging.chmod(0o755)  # mkdtemp makes 0700; the cache is ordinary shared build output
    try:
        for name in MANIFESTS:
            shutil.copyfile(JS_DIR / name, staging / name)
        command = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"]
        try:
            done = subprocess.run(
                command, cwd=staging, capture_output=True, text=True, timeout=NPM_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"npm ci took over {NPM_TIMEOUT_S} s in {staging}")
        if done.returncode != 0:
            pytest.fail(f"npm ci failed ({done.returncode}): {done.stderr[-2000:]}")
        (staging / DONE_MARKER).write_text("npm ci done\n")
        try:
            staging.rename(target)
        except OSError:
            if not (target / DONE_MARKER).is_file():  # another session did not win the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _place_script(folder: Path) -> Path:
    """Copy peer.mjs beside its node_modules (ESM resolves packages from the script's folder)."""
    script = folder / "peer.mjs"
    handle, temp_name = tempfile.mkstemp(dir=folder, prefix=".peer.", suffix=".mjs")
    with os.fdopen(handle, "wb") as out:
        out.write((JS_DIR / "peer.mjs").read_bytes())
    os.chmod(temp_name, 0o644)
    os.replace(temp_name, script)
    return script


def start_js_peer() -> JsPeer:
    """Install (or reuse) the packages and place the script; skips only without node/npm."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not on PATH: the JavaScript interop peer cannot run")
    if not (CONTEXTS_DIR / "index.json").is_file():
        pytest.fail("JSON-LD contexts are not installed: run python scripts/install_contexts.py")
    folder = CACHE_ROOT / _lock_key()
    if not (folder / DONE_MARKER).is_file():
        shutil.rmtree(folder, ignore_errors=True)
        _install_packages(folder)
    return JsPeer(script=_place_script(folder), contexts=CONTEXTS_DIR)
