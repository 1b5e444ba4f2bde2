"""The node: one process per person, composing storage, the BNS DHT and the HTTP gateway.

`Node` is what a node is made of before it runs (home, key, config, admin token, settings).
`await Node.start()` opens the LevelDB, joins the DHT, serves the gateway (public routes,
and the admin API behind the bearer token) and returns a `RunningNode`: the node's
`Services` (node/services.py), every one of them present, plus `stop()`, which undoes the
start in reverse order. Route modules reach the services through `request.app[SERVICES]`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from badgechain.bns.dht import DhtNode, DhtSettings
from badgechain.bns.inbox_records import InboxRecords
from badgechain.bns.peer_boards import PeerBoards
from badgechain.bns.service import NameService
from badgechain.bns.values import BnsValues
from badgechain.chain.keys import KeyPair
from badgechain.storage import LevelStore
from badgechain.storage.queue import WorkQueue

from . import delivery, gateway, peers, status, work
from .api import ROUTES
from .config import DB_DIR, NodeConfig, install_local_contexts
from .nodelog import NodeLog
from .openapi import build_document
from .problems import problem_middleware
from .routes import admin_only, register
from .services import NodeSettings, Services, StatusCache, Tasks
from .web import ADMIN, OPENAPI_DOCUMENT, SERVICES, AdminToken, time_limit

__all__ = ["MAX_BODY_BYTES", "Node", "RunningNode", "build_app"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 12 * 1024 * 1024  # a baked PNG of up to 10 MiB, plus multipart framing


def build_app(admin: AdminToken) -> web.Application:
    """The gateway's routes (node/api.py) and middlewares. A started node adds its services
    before serving; without them the app still routes and documents itself (tests)."""
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[problem_middleware, time_limit, admin_only],
    )
    app[ADMIN] = admin
    gateway.init_app(app)
    register(app, ROUTES)
    app[OPENAPI_DOCUMENT] = build_document(app)
    return app


@dataclass(frozen=True, slots=True, eq=False, kw_only=True)
class RunningNode(Services):
    """A started node: its services, and the HTTP runner that `stop()` closes."""

    runner: web.AppRunner
    stopped: asyncio.Event = field(default_factory=asyncio.Event)  # set by the first stop()

    async def stop(self) -> None:
        """Stop background work, the gateway, the DHT and storage; again does nothing."""
        if self.stopped.is_set():
            return
        self.stopped.set()
        await self.tasks.cancel_all()
        await self.runner.cleanup()
        await self.dht.stop()
        self.store.close()
        log.info("node stopped")

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


class Node:
    """What a node is made of before it runs. `await start()` returns the running node."""

    def __init__(
        self,
        home: Path,
        key: KeyPair,
        config: NodeConfig,
        admin_token: str,
        *,
        dht_settings: DhtSettings | None = None,
        settings: NodeSettings | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.home = home
        self.key = key
        self.config = config
        self.admin = AdminToken(admin_token)
        self.settings = settings or NodeSettings(dht=dht_settings or DhtSettings())
        self.clock = clock or (lambda: datetime.now(UTC))

    @property
    def did(self) -> str:
        return self.key.did

    def build_app(self) -> web.Application:
        """This node's routes, without services: for documents and routing tests."""
        return build_app(self.admin)

    async def start(self) -> RunningNode:
        install_local_contexts(self.home, self.config)
        store = LevelStore(str(self.home / DB_DIR))
        tasks = Tasks(self.settings.stop_grace_s)
        dht = DhtNode(
            self.key.public_key, store, BnsValues(self.config.pow_difficulty), self.settings.dht
        )
        sock: socket.socket | None = None
        runner: web.AppRunner | None = None
        try:
            await dht.listen(self.config.dht_port, self.config.dht_host)
            contacts = await dht.bootstrap(self.config.bootstrap)
            log.info("joined the DHT", extra={"contacts": contacts})
            sock = _bind(self.config.http_host, self.config.http_port)
            app = build_app(self.admin)
            runner = web.AppRunner(app, access_log=None)
            running = RunningNode(
                home=self.home,
                key=self.key,
                config=self.config,
                settings=self.settings,
                clock=self.clock,
                store=store,
                dht=dht,
                names=NameService(dht, store),
                inboxes=InboxRecords(dht),
                peer_boards=PeerBoards(dht),
                log=NodeLog(store, self.key, self.clock),
                tasks=tasks,
                http_port=sock.getsockname()[1],  # the port picked when 0 was asked
                status_lists=status.load_allocation(store),
                status_cache=StatusCache(),
                queue=WorkQueue(store, self.settings.queue_max_attempts),
                wake=asyncio.Event(),
                runner=runner,
            )
            app[SERVICES] = running  # before setup(), which freezes the app
            await runner.setup()
            await web.SockSite(runner, sock).start()
            await _start_work(running)
        except BaseException:
            await tasks.cancel_all()
            if runner is not None and runner.server is not None:
                await runner.cleanup()  # closes the socket too
            elif sock is not None:
                sock.close()
            await dht.stop()
            store.close()
            raise
        log.info(
            "node started",
            extra={
                "did": self.did,
                "gateway": running.gateway_url,
                "dht": "{}:{}".format(*dht.address),
            },
        )
        return running


def _bind(host: str, port: int) -> socket.socket:
    """The gateway's listening socket, bound before the services are built, so that they
    know the gateway's URL (port 0 asks the system for a free port)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def _start_work(services: Services) -> None:
    """What a started node does in the background, its gateway serving."""
    await delivery.start_delivery(services)  # announce the inbox, run the outbox
    peers.start_announcing(services)  # a public gateway says so on its DHT peer board
    queued = work.migrate(services)  # the journal's work: a crash's, a pre-queue home's
    log.info("work queued from the journal", extra={"items": queued})
    services.spawn(work.run_worker(services))
