"""The node: one process per person, composing storage, the BNS DHT and the HTTP gateway.

`Node.start()` opens the LevelDB, joins the DHT, and serves the gateway (public routes,
and the admin API behind a bearer token); `Node.stop()` undoes it in reverse order. Route
modules reach the running node through `request.app[NODE]`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import signal
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from badgechain.bns.dht import DhtNode, DhtSettings
from badgechain.bns.service import NameService
from badgechain.bns.values import BnsValues
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import KeyPair
from badgechain.storage import LevelStore

from . import (
    delivery,
    earner_routes,
    gateway,
    issuer,
    issuer_routes,
    log_routes,
    page_routes,
    persona_routes,
    personas,
    status_routes,
    verify_routes,
)
from .config import DB_DIR, NodeConfig, install_local_contexts
from .nodelog import NodeLog
from .problems import problem_middleware
from .web import NODE, admin_only, time_limit

__all__ = ["MAX_BODY_BYTES", "Node"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 12 * 1024 * 1024  # a baked PNG of up to 10 MiB, plus multipart framing
STOP_GRACE_S = 2.0  # how long stopping waits for cancelled tasks before cancelling again
PENDING_RETRY_S = 30.0  # how often writes the DHT did not take are published again


async def _cancel_all(tasks: set[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and wait for them to end. A task that swallowed its cancellation (a
    library racing a cancel with a result) and went on to wait again is cancelled again."""
    while pending := [task for task in tasks if not task.done()]:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=STOP_GRACE_S)


class Node:
    """A running BadgeChain node. Build it, `await start()`, and `await stop()` at the end."""

    def __init__(
        self,
        home: Path,
        key: KeyPair,
        config: NodeConfig,
        admin_token: str,
        *,
        dht_settings: DhtSettings | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.home = home
        self.key = key
        self.config = config
        self._admin_token = admin_token
        self.dht_settings = dht_settings or DhtSettings()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.store: LevelStore | None = None
        self.dht: DhtNode | None = None
        self.names: NameService | None = None
        self.log: NodeLog | None = None  # the signed node log, from start() on
        self._runner: web.AppRunner | None = None
        self.http_port = config.http_port
        self.background: set[asyncio.Task[object]] = set()

    @property
    def did(self) -> str:
        return self.key.did

    @property
    def gateway_url(self) -> str:
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dht_address(self) -> tuple[str, int]:
        assert self.dht is not None, "the node is not started"
        return self.dht.address

    def is_admin(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self._admin_token.encode()
        )

    async def start(self) -> None:
        install_local_contexts(self.home, self.config)
        self.store = LevelStore(str(self.home / DB_DIR))
        try:
            self.log = NodeLog(self.store, self.key, self.clock)
            values = BnsValues(self.config.pow_difficulty)
            self.dht = DhtNode(self.key.public_key, self.store, values, self.dht_settings)
            await self.dht.listen(self.config.dht_port, self.config.dht_host)
            self.names = NameService(self.dht, self.store)
            contacts = await self.dht.bootstrap(self.config.bootstrap)
            log.info("joined the DHT", extra={"contacts": contacts})
            self._runner = web.AppRunner(self.build_app(), access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.config.http_host, self.config.http_port)
            await site.start()
            self.http_port = self._runner.addresses[0][1]  # the port picked when 0 was asked
            await delivery.start_delivery(self)  # announce the inbox, run the outbox
            await issuer.resume_batches(self)  # batches a crash interrupted
            self.spawn(personas.publish_pending_personas(self))  # badges: resume_batches
            self.spawn(self._retry_pending())
            self.spawn(self._reconcile_indexes())
        except BaseException:
            await self.stop()
            raise
        log.info(
            "node started",
            extra={
                "did": self.did,
                "gateway": self.gateway_url,
                "dht": "{}:{}".format(*self.dht.address),
            },
        )

    async def stop(self) -> None:
        await _cancel_all(self.background)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.dht is not None:
            await self.dht.stop()
            self.dht = None
        self.log = None
        if self.store is not None:
            self.store.close()
            self.store = None
        log.info("node stopped")

    async def _retry_pending(self) -> None:
        """Every PENDING_RETRY_S, publish what the DHT did not take when it was written:
        revocations (the status list has them already), badge entries and personas. Each is
        idempotent, so overlapping a batch's own publishing is harmless."""
        while True:
            await asyncio.sleep(PENDING_RETRY_S)
            try:
                await issuer.publish_pending_revocations(self)
                await issuer.publish_pending(self, attempts=1)
                await personas.publish_pending_personas(self)
            except BadgeChainError as exc:
                log.warning("publishing pending writes failed", extra={"code": exc.code})

    async def _reconcile_indexes(self) -> None:
        """With each republish round, put back index items concurrent writers pushed out."""
        assert self.names is not None
        while True:
            await asyncio.sleep(self.dht_settings.republish_interval)
            try:
                await self.names.reconcile_indexes(self.key)
            except BadgeChainError as exc:
                log.warning("index reconcile failed", extra={"code": exc.code})

    def spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        """Run `coro` in the background until it ends or the node stops."""
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def run_until_signalled(self) -> None:
        """Serve until SIGINT or SIGTERM, then stop cleanly."""
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        try:
            await stopping.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self.stop()

    def build_app(self) -> web.Application:
        app = web.Application(
            client_max_size=MAX_BODY_BYTES,
            middlewares=[problem_middleware, time_limit, admin_only],
        )
        app[NODE] = self
        route_modules = (
            gateway,
            issuer_routes,
            earner_routes,
            verify_routes,
            status_routes,
            log_routes,
            persona_routes,
            page_routes,
        )
        for module in route_modules:
            module.add_routes(app)
        return app
