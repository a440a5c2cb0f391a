"""``iocgw feeds serve``: poll each HTTP source on its schedule, import what changed, refresh the merged view.

A source that is down is counted, logged and retried with backoff; it never stops the other sources.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, field

import aiohttp

from hub.feeds.config import FeedsConfig
from hub.feeds.formats import FeedFileError, detect_format, parse_bytes
from hub.feeds.importers import ImportContext
from hub.feeds.importers.base import SourceConfig
from hub.feeds.merge import refresh
from hub.feeds.pipeline import ImportReport, failed_read, run_import

log = logging.getLogger(__name__)


@dataclass
class SourceStats:
    polls: int = 0
    imports: int = 0
    not_modified: int = 0
    failures: int = 0  # unreachable, HTTP error, unreadable file, or InfluxDB refused
    rejected_rows: int = 0
    last_error: str | None = None
    last_report: ImportReport | None = None


@dataclass
class _Validators:
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class FeedService:
    config: FeedsConfig
    ctx: ImportContext
    stats: dict[str, SourceStats] = field(default_factory=dict)
    merges: int = 0
    merge_failures: int = 0
    _io: asyncio.Lock | None = None  # one InfluxDB connection and one SQLite connection: one user at a time

    async def run(self, stop: asyncio.Event) -> None:
        self._io = asyncio.Lock()
        timeout = aiohttp.ClientTimeout(total=None)
        async with aiohttp.ClientSession(timeout=timeout) as session, asyncio.TaskGroup() as tg:
            for src in self.config.sources:
                self.stats[src.name] = SourceStats()
                tg.create_task(self._poll_loop(session, src, stop), name=f"feed:{src.name}")
            tg.create_task(self._merge_loop(stop), name="feeds:merge")

    async def _poll_loop(self, session: aiohttp.ClientSession, src: SourceConfig, stop: asyncio.Event) -> None:
        stats, validators = self.stats[src.name], _Validators()
        backoff = self.config.retry_min_s
        while not stop.is_set():
            ok = await self._poll_once(session, src, stats, validators)
            if ok:
                backoff = self.config.retry_min_s
                wait = src.every_s
            else:
                # Retry a failed source sooner than its schedule, backing off while it stays down.
                wait = min(src.every_s, backoff) * random.uniform(0.9, 1.1)
                backoff = min(backoff * 2, max(src.every_s, self.config.retry_min_s))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)

    async def _poll_once(
        self, session: aiohttp.ClientSession, src: SourceConfig, stats: SourceStats, v: _Validators
    ) -> bool:
        stats.polls += 1
        headers = dict(src.headers)
        if v.etag:
            headers["If-None-Match"] = v.etag
        if v.last_modified:
            headers["If-Modified-Since"] = v.last_modified
        try:
            async with asyncio.timeout(src.timeout_s):
                async with session.get(str(src.url), headers=headers) as resp:
                    if resp.status == 304:
                        stats.not_modified += 1
                        return True
                    if resp.status != 200:
                        raise aiohttp.ClientResponseError(
                            resp.request_info, resp.history, status=resp.status, message=resp.reason or ""
                        )
                    body = await resp.read()
                    content_type = resp.headers.get("Content-Type")
                    etag, modified = resp.headers.get("ETag"), resp.headers.get("Last-Modified")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return self._failed(src, stats, f"fetch failed: {type(exc).__name__}: {exc}")
        source = f"{src.name}:{src.url}"
        try:
            fmt = src.format if src.format != "auto" else detect_format(str(src.url), content_type)
            doc = parse_bytes(body, source, fmt)
        except FeedFileError as exc:
            assert self._io is not None
            async with self._io:
                await asyncio.to_thread(failed_read, source, str(exc), self.ctx, exc.rows)
            # Fetching the same bad file again cannot help: wait until the source changes it.
            v.etag, v.last_modified = etag, modified
            return self._failed(src, stats, f"unreadable: {exc}")
        assert self._io is not None
        try:
            async with self._io:
                report = await asyncio.to_thread(run_import, doc, self.ctx, src.type, src.partial)
        except Exception as exc:  # a bug on one file must not stop the service: count it, keep polling
            log.exception("feed source %s: import crashed", src.name)
            return self._failed(src, stats, f"import crashed: {type(exc).__name__}: {exc}")
        stats.last_report = report
        stats.rejected_rows += report.rejected
        if report.error:
            return self._failed(src, stats, report.error)
        stats.imports += 1
        log.info("%s", report.summary())
        # Remember the validators only once the content is in: a failed write is fetched again next time.
        v.etag, v.last_modified = etag, modified
        if report.committed:
            await self._merge()
        return True

    def _failed(self, src: SourceConfig, stats: SourceStats, error: str) -> bool:
        stats.failures += 1
        stats.last_error = error
        log.warning("feed source %s: %s (failure %d)", src.name, error, stats.failures)
        return False

    async def _merge_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._merge()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.config.merge_every_s)

    async def _merge(self) -> None:
        if self.ctx.sink is None or self._io is None:
            return
        try:
            async with self._io:
                await asyncio.to_thread(refresh, self.ctx.sink, self.ctx.units, self.config.hazard)
            self.merges += 1
        except Exception as exc:  # InfluxDB down: the view is refreshed on the next round
            self.merge_failures += 1
            log.warning("refreshing the unit_hazard view failed: %s", exc)
