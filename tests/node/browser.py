"""A small Chrome DevTools Protocol driver for the web page tests: headless Chromium as a
subprocess, one websocket to it (aiohttp), and pages driven through flattened sessions.

Every wait is bounded; `Browser.launch()` is an async context manager that always kills
the process and removes its profile directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["Browser", "BrowserError", "Page", "find_chromium"]

START_TIMEOUT_S = 20.0
CALL_TIMEOUT_S = 15.0
POLL_S = 0.05
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserError(Exception):
    """The browser did not start, did not answer, or answered a call with an error."""


def find_chromium() -> str | None:
    """The path of a Chromium binary: $CHROMIUM, else the first of the usual names."""
    named = os.environ.get("CHROMIUM")
    if named:
        return shutil.which(named)
    return next((path for name in _CANDIDATES if (path := shutil.which(name))), None)


class Browser:
    """A running headless Chromium and the websocket to its browser target."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._pages: dict[str, Page] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, binary: str) -> AsyncIterator[Browser]:
        profile = Path(tempfile.mkdtemp(prefix="badgechain-chromium-"))
        process = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = await _devtools_url(profile, process)
            async with aiohttp.ClientSession() as session:
                ws = await session.ws_connect(url, max_msg_size=64 * 1024 * 1024)
                browser = cls(ws)
                try:
                    yield browser
                finally:
                    await browser._close()
        finally:
            process.kill()
            process.wait(timeout=10)
            shutil.rmtree(profile, ignore_errors=True)

    async def call(
        self, method: str, session_id: str | None = None, **params: Any
    ) -> dict[str, Any]:
        """Send one CDP command and wait (bounded) for its result."""
        message: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params}
        if session_id is not None:
            message["sessionId"] = session_id
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[message["id"]] = answer
        try:
            await self._ws.send_str(json.dumps(message))
            async with asyncio.timeout(CALL_TIMEOUT_S):
                reply = await answer
        finally:
            self._waiting.pop(message["id"], None)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    @contextlib.asynccontextmanager
    async def page(self) -> AsyncIterator[Page]:
        """A new tab, attached through a flattened session; closed at the end."""
        target = (await self.call("Target.createTarget", url="about:blank"))["targetId"]
        attached = await self.call("Target.attachToTarget", targetId=target, flatten=True)
        page = Page(self, attached["sessionId"])
        self._pages[attached["sessionId"]] = page
        try:
            for domain in ("Page", "Runtime", "Log"):
                await page.call(f"{domain}.enable")
            yield page
        finally:
            self._pages.pop(attached["sessionId"], None)
            with contextlib.suppress(BrowserError, TimeoutError, ConnectionError):
                await self.call("Target.closeTarget", targetId=target)

    async def _read(self) -> None:
        try:
            async for message in self._ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                data = json.loads(message.data)
                if "method" in data and data.get("sessionId") in self._pages:
                    self._pages[data["sessionId"]].note_event(data["method"], data["params"])
                waiter = self._waiting.get(data.get("id", -1))
                if waiter is not None and not waiter.done():
                    waiter.set_result(data)
        finally:
            for waiter in self._waiting.values():
                if not waiter.done():
                    waiter.set_exception(BrowserError("the browser closed the connection"))

    async def _close(self) -> None:
        with contextlib.suppress(BrowserError, TimeoutError, ConnectionError):
            await self.call("Browser.close")
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def _devtools_url(profile: Path, process: subprocess.Popen[bytes]) -> str:
    """The browser websocket URL Chromium writes to <profile>/DevToolsActivePort."""
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrowserError(f"chromium exited with {process.returncode}")
        lines = port_file.read_text().splitlines() if port_file.exists() else []
        if len(lines) >= 2:
            return f"ws://127.0.0.1:{lines[0].strip()}{lines[1].strip()}"
        await asyncio.sleep(POLL_S)
    raise BrowserError(f"chromium wrote no DevToolsActivePort within {START_TIMEOUT_S} s")


class Page:
    """One tab: navigate, evaluate JavaScript, wait for conditions, give it files."""

    def __init__(self, browser: Browser, session_id: str) -> None:
        self.browser = browser
        self._browser = browser
        self._session = session_id
        self.errors: list[str] = []  # uncaught exceptions and console errors (CSP included)

    def note_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(details.get("exception", {}).get("description") or details["text"])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            # A 404 answer is logged as a network error; the page expects some (none known).
            if entry.get("source") != "network":
                self.errors.append(f"{entry.get('source')}: {entry.get('text')}")

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        return await self._browser.call(method, self._session, **params)

    async def goto(self, url: str, ready: str = "document.readyState === 'complete'") -> None:
        """Navigate, then wait until `ready` (a JavaScript expression) holds."""
        answer = await self.call("Page.navigate", url=url)
        if answer.get("errorText"):
            raise BrowserError(f"navigating to {url}: {answer['errorText']}")
        await self.wait_for(ready)

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression (promises are awaited)."""
        answer = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"{expression!r} threw: {text}")
        return answer["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        """Poll `expression` until it is truthy; its value, or TimeoutError past `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not within {timeout} s: {expression}")
            await asyncio.sleep(POLL_S)

    async def center_of(self, selector: str) -> tuple[float, float]:
        """The viewport coordinates of the middle of the element `selector` names."""
        box = await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        return float(box[0]), float(box[1])

    async def drop_files(self, selector: str, paths: Sequence[Path]) -> None:
        """Drag files from outside the page and drop them on the element `selector` names,
        as a person would (Input.dispatchDragEvent: enter, over, drop)."""
        x, y = await self.center_of(selector)
        data = {"items": [], "files": [str(path) for path in paths], "dragOperationsMask": 1}
        for kind in ("dragEnter", "dragOver", "drop"):
            await self.call("Input.dispatchDragEvent", type=kind, x=x, y=y, data=data)

    async def set_files(self, selector: str, paths: Sequence[Path]) -> None:
        """Choose files in the <input type=file> `selector` names, as its picker would."""
        document = await self.call("DOM.getDocument", depth=0)
        found = await self.call(
            "DOM.querySelector", nodeId=document["root"]["nodeId"], selector=selector
        )
        await self.call(
            "DOM.setFileInputFiles", files=[str(path) for path in paths], nodeId=found["nodeId"]
        )

    async def download(self, selector: str, folder: Path, timeout: float = 15.0) -> Path:
        """Click the link `selector` names, as a person saving a file would, and wait (bounded)
        for the file Chromium saves into the empty `folder`."""
        await self._browser.call(
            "Browser.setDownloadBehavior", behavior="allow", downloadPath=str(folder)
        )
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [path for path in folder.iterdir() if path.suffix != ".crdownload"]
            if done and not any(path.suffix == ".crdownload" for path in folder.iterdir()):
                return done[0]
            await asyncio.sleep(POLL_S)
        raise TimeoutError(f"no download into {folder} within {timeout} s")

    async def type_into(self, selector: str, text: str) -> None:
        """Focus the field `selector` names and type `text` into it (Input.insertText)."""
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.call("Input.insertText", text=text)

    async def press_enter(self) -> None:
        for kind in ("keyDown", "keyUp"):
            await self.call(
                "Input.dispatchKeyEvent",
                type=kind,
                key="Enter",
                code="Enter",
                windowsVirtualKeyCode=13,
                text="\r" if kind == "keyDown" else "",
            )
