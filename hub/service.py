"""Starting and stopping the hub: state, registry, ingest pipeline and HTTP server, in that order."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from hub.api import make_app
from hub.config import HubConfig
from hub.ingest.pipeline import IngestPipeline
from hub.metrics import Metrics
from hub.registry import load_seed_files
from hub.store.state import HubState

log = logging.getLogger(__name__)


class Hub:
    """Lifecycle: ``await start()``, ``await stop()``; or ``await run(stop_event)``."""

    def __init__(self, config: HubConfig, config_dir: Path | None = None) -> None:
        self.config = config
        self.config_dir = config_dir
        self.metrics = Metrics()
        db = config.data_dir / "hub.db"
        self.state = HubState(db)
        seeds = load_seed_files(config.registry.seed_files, base=config_dir)
        if seeds:
            self.state.register(seeds)
            log.info("registered %d nodes from seed files", len(seeds))
        self.read_state = HubState(db)
        self.pipeline = IngestPipeline(config, self.state, self.metrics)
        self._runner: web.AppRunner | None = None
        self.http_port: int | None = None

    async def start(self) -> None:
        self.pipeline.start()
        app = make_app(self.pipeline, self.metrics, self.read_state, self.config.registry.offline_after_s)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.http.host, self.config.http.port)
        await site.start()
        sockets = site._server.sockets if site._server else []
        self.http_port = sockets[0].getsockname()[1] if sockets else self.config.http.port
        log.info("hub HTTP on %s:%s", self.config.http.host, self.http_port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await asyncio.to_thread(self.pipeline.stop)
        self.state.close()
        self.read_state.close()

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
