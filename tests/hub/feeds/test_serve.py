"""``feeds serve``: a real local HTTP source polled on schedule, going down and coming back."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from hub.feeds.config import FeedsConfig
from hub.feeds.schedule import FeedService
from hub.store.influx_query import query
from testkit.localsvc import InfluxDB
from tests.hub.feeds.helpers import DB, context, csv_bytes, indicator


class FeedServer:
    """Serves one CSV body with an ETag (answers 304 to a matching If-None-Match); can be stopped and restarted."""

    def __init__(self) -> None:
        self.body = b""
        self.requests = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304)
        return web.Response(body=self.body, headers={"ETag": etag, "Content-Type": "text/csv"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/feed", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


async def until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.mark.services
def test_poller_imports_on_schedule_and_survives_the_source_going_down(influx: InfluxDB, tmp_path: Path) -> None:
    def values() -> dict[str, float]:
        return {str(r["time"]): r["value"] for r in query(influx.url, DB, 'SELECT "value" FROM "admin_indicator"')}

    async def scenario() -> FeedService:
        server = FeedServer()
        server.body = csv_bytes("indicators", [indicator("population", "46", "2024", 1_400_000, "Y")])
        await server.start()
        config = FeedsConfig.model_validate(
            {
                "data_dir": str(tmp_path),
                "influx": {"url": influx.url, "database": DB},
                "retry_min_s": 0.05,
                "merge_every_s": 3600,
                "sources": [
                    {
                        "name": "hue-ktxh",
                        "type": "indicators",
                        "url": f"http://127.0.0.1:{server.port}/feed",
                        "every_s": 0.2,
                        "timeout_s": 2,
                    }
                ],
            }
        )
        service = FeedService(config, context(influx.url, tmp_path))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        await until(lambda: "hue-ktxh" in service.stats and service.stats["hue-ktxh"].imports == 1, "first import")
        stats = service.stats["hue-ktxh"]
        assert list((await asyncio.to_thread(values)).values()) == [1_400_000]
        await until(lambda: stats.not_modified >= 1, "a 304 on an unchanged source")

        await server.stop()
        await until(lambda: stats.failures >= 2, "failed polls while the source is down")
        assert "fetch failed" in (stats.last_error or "")

        server.body = csv_bytes(
            "indicators",
            [
                indicator("population", "46", "2024", 1_400_000, "Y"),
                indicator("population", "46", "2025", 1_432_000, "Y"),
            ],
        )
        await server.start()  # same port: the source is back
        await until(lambda: stats.imports == 2, "an import after the source came back")

        server.body = b"indicator_code,admin_code\npopulation,46\n"  # no envelope: unreadable as a whole
        await until(lambda: "unreadable" in (stats.last_error or ""), "the unreadable file to be refused")
        assert "line 1 must be the preamble" in service.ctx.state.imports()[-1]["error"]
        seen = stats.not_modified
        await until(lambda: stats.not_modified > seen, "the same bad file not fetched whole again")
        stop.set()
        await task
        await server.stop()
        return service

    service = asyncio.run(scenario())
    assert sorted(values().values()) == [1_400_000, 1_432_000]
    assert service.merges >= 1  # the merged view was refreshed after the imports
    assert len(query(influx.url, DB, 'SELECT * FROM "unit_hazard" WHERE "admin_code" = \'46\'')) >= 1
