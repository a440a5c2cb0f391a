"""One computation shared by every console that asks: the costly views (500 stations read back from InfluxDB) are
computed once per few seconds, whatever the number of officers' pages polling them, and never while one waits.

Fresh for ``fresh_s``: served as it is. Older but younger than ``stale_s``: served at once while one recomputation
runs in the background (stale-while-revalidate). Older still, or never computed: the caller awaits the computation,
which concurrent callers share (single flight)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class SharedAnswer(Generic[T]):
    def __init__(
        self,
        compute: Callable[[], Awaitable[T]],
        fresh_s: float,
        stale_s: float,
        name: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= fresh_s <= stale_s:
            raise ValueError("need 0 <= fresh_s <= stale_s")
        self.compute, self.fresh_s, self.stale_s, self.name, self.clock = compute, fresh_s, stale_s, name, clock
        self._value: T | None = None
        self._at = float("-inf")
        self._running: asyncio.Task[T] | None = None
        self.computed = 0

    async def get(self) -> T:
        age = self.clock() - self._at
        if self._value is not None and age < self.stale_s:
            if age >= self.fresh_s:
                self._start()  # the caller gets the answer it would have had a moment ago; the next one, today's
            return self._value
        return await asyncio.shield(self._start())

    def _start(self) -> asyncio.Task[T]:
        if self._running is None or self._running.done():
            self._running = asyncio.get_running_loop().create_task(self._compute(), name=f"shared-{self.name}")
        return self._running

    async def _compute(self) -> T:
        try:
            value = await self.compute()
        except Exception:
            log.exception("%s: computing the shared answer failed", self.name)
            raise
        self._value, self._at = value, self.clock()
        self.computed += 1
        return value
