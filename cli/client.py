"""Talking to this home's running node over its admin API (localhost, bearer token)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from badgechain.chain.errors import BadgeChainError
from badgechain.node.config import load_config, read_admin_token

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AdminClient", "NodeError", "why_no_answer"]

# aiohttp is imported by the call that needs it: commands that import NodeError (verify
# --offline among them) must not pay for the HTTP client.
_TIMEOUT_S = 120.0
_MAX_ANSWER = 16 * 1024 * 1024


async def _read_bounded(content: aiohttp.StreamReader, max_bytes: int) -> bytes:
    """The whole answer up to `max_bytes` (a single read returns only what is buffered)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise NodeError(f"the node's answer is over {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def why_no_answer(exc: BaseException) -> str:
    """A short reason for a failed connection, in words: the node's own wording
    (node/outbound.py `why_unreachable`), loaded only once a request has failed."""
    from badgechain.node.outbound import why_unreachable

    return why_unreachable(exc)


class NodeError(BadgeChainError):
    """The node answered with a problem report, or did not answer."""

    code = "node_error"


class AdminClient:
    """Calls to the node of `home`, at the HTTP port in its config.toml."""

    def __init__(self, home: Path, base_url: str | None = None) -> None:
        config = load_config(home)
        self.base_url = (base_url or f"http://127.0.0.1:{config.http_port}").rstrip("/")
        self.token = read_admin_token(home)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; the JSON answer, or NodeError with the node's problem code."""
        return asyncio.run(self._call(method, path, body))

    async def _call(self, method: str, path: str, body: Any) -> Any:
        import aiohttp

        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_TIMEOUT_S)) as session,
                session.request(method, self.base_url + path, json=body, headers=headers) as r,
            ):
                data = await _read_bounded(r.content, _MAX_ANSWER)
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NodeError(
                f"no answer from the node at {self.base_url}: is `badgechain node start` "
                f"running? ({why_no_answer(exc)})",
                code="node_unreachable",
            ) from exc
        try:
            answer = json.loads(data) if data else None
        except ValueError as exc:
            raise NodeError(f"the node answered {status} with non-JSON") from exc
        if status >= 400:
            problem = answer if isinstance(answer, dict) else {}
            raise NodeError(
                str(problem.get("detail", f"HTTP {status}")),
                code=str(problem.get("code", "node_error")),
            )
        return answer
